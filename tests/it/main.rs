//! One integration-test binary (fewer link steps): each module is one area.

mod vectors;
mod support;
mod api;
mod crash;
