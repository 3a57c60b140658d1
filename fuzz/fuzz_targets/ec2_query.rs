//! libFuzzer entry point; the target itself is `routeplane_fuzz::ec2_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| routeplane_fuzz::ec2_query(data));
