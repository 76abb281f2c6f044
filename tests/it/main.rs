//! One integration-test binary (fewer link steps): each module is one area.

mod anomalies;
mod api;
mod app_receive;
mod app_session;
mod browser;
mod browser_selftest;
mod bundle;
mod cli;
mod crash;
mod demo;
mod domain;
mod domain_rules;
mod durability;
mod limits;
mod openapi;
mod party_cli;
mod persons;
mod print;
mod qr;
mod resilience;
mod search;
mod support;
mod tamper;
mod vectors;
mod witness;
mod world;
