//! One integration-test binary (fewer link steps): each module is one area.

mod vectors;
