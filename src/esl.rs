//! FreeSWITCH adapter: the event-socket wire protocol (`frame`, `event`, `command`), one
//! socket (`connection`), one node with reconnects (`node`), the listener for the dialplan's
//! `socket` application (`outbound`), and the only place that knows header names
//! (`translate`). `EslError` is the boundary's error type.
//!
//! Flow: `connection` reads bytes -> `frame` cuts frames -> `event` classifies and decodes
//! them -> `translate` makes `call::Event`s for the engine; the engine's `Command`s go back
//! through `node` / `connection`.

pub mod command;
pub mod connection;
pub mod error;
pub mod event;
pub mod frame;
pub mod node;
pub mod outbound;
pub mod translate;

pub use command::Command;
pub use connection::{Connection, ConnectionSettings, EventSink};
pub use error::EslError;
pub use event::{EslEvent, Incoming, classify};
pub use frame::{DEFAULT_MAX_FRAME_BYTES, Frame, FrameDecoder, Headers};
pub use node::{NodeHandle, NodeSettings, NodeStatus, spawn_node};
pub use translate::{TranslateStats, translate};
