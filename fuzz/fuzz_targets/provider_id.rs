//! libFuzzer entry point; the target itself is `routeplane_fuzz::provider_id`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| routeplane_fuzz::provider_id(data));
