//! kefu (客服): a call-center backend that controls FreeSWITCH over its event socket.
//!
//! ```text
//! FreeSWITCH ──ESL (TCP)──▶ esl: codec + connection ──▶ call events
//!                                                          │
//!                          ┌───────────────────────────────┘
//!                          ▼
//!                  call session (one state machine per call:
//!                  ivr → queued → offered → talking → wrap-up/survey → ended)
//!                     │              │                     │
//!             IVR interpreter   ACD router (pure,     recorder: timeline →
//!             (flows from       no I/O: skills,       SLA histograms + DB
//!              ivr_flows/)       tiers, priorities)
//!                     │              │
//!                     ▼              ▼
//!           commands back to FreeSWITCH   agent gateway (WebSocket screen-pop,
//!           (playback, play_and_get_digits, agent state) and supervisor stream
//!            originate, uuid_bridge, …)
//! ```
//!
//! The core (`domain`, `call`, `ivr`, `acd`, `recorder::stats`) is pure: no I/O, no clock
//! reads. `engine` owns the sessions and the router and carries their effects out through the
//! adapters (`esl`, `gateway`, `store`, `recorder::writer`). `sim` is a fake FreeSWITCH that
//! speaks the real wire protocol, for the demo, the tests and the load test.

#![forbid(unsafe_code)]

pub mod acd;
pub mod app;
pub mod auth;
pub mod call;
pub mod clock;
pub mod config;
pub mod directory;
pub mod domain;
pub mod engine;
pub mod esl;
pub mod gateway;
pub mod ivr;
pub mod recorder;
pub mod sim;
pub mod store;
pub mod telemetry;
