//! libFuzzer entry point; the target itself is `routeplane_fuzz::cni_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| routeplane_fuzz::cni_config(data));
