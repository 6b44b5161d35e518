//! The ACD routing core (pure: no I/O, time passed in). It decides which agent gets which
//! call, by the routing rules of PRODUCT.md; `engine` carries the decisions out.
//!
//! Indexes keep every decision away from scanning all agents or all calls:
//! per queue and per relaxation step, the waiting calls ordered by effective priority, and
//! the available agents ordered by the queue's strategy. Aging is linear and the same for
//! every call, so the order of two waiting calls never changes with time: a call's key is
//! fixed at enqueue and the `now` term cancels out (see [`WaitKey`]).

pub mod ewt;
mod model;
mod router;

pub use model::{
    ActionRefused, AgentSpec, CallSpec, Decision, DirectoryRefused, OfferEnd, Overflow, QueueSpec,
    RouterSettings, Step,
};
pub use router::{AgentView, QueueView, Router};
