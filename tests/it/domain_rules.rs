//! The domain rules the first review found wanting: each case built on the test Kunshan of
//! `world.rs`, over HTTP.

use crate::world::*;
