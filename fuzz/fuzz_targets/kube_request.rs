//! libFuzzer entry point; the target itself is `routeplane_fuzz::kube_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| routeplane_fuzz::kube_request(data));
