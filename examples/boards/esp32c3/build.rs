//! Converts the selected models, embeds the bundled inputs with the host
//! runner's outputs for them, refuses models that do not fit the budget of
//! `memory-budget.x` (esp-hal links with its own scripts).
fn main() {
    attonet_fw_build::Firmware::new("ESP32-C3")
        .memory_x("memory-budget.x")
        .link(false)
        .build();
}
