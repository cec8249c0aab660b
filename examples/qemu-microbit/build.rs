//! Converts the selected models, embeds the bundled inputs with the host
//! runner's outputs for them, refuses models that do not fit `memory.x`.
fn main() {
    attonet_fw_build::Firmware::new("microbit").build();
}
