//! The `routeplane-bridge` CNI plugin binary: all logic lives in `routeplane_cni::plugin`.

fn main() {
    std::process::exit(routeplane_cni::plugin::main());
}
