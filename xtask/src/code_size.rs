//! `cargo xtask code-size`: the runtime's code for one model, alone.
//!
//! Builds `examples/code-size` (the smallest Cortex-M4 firmware that runs a
//! model: no printing, no counters) without a model and with each model, and
//! reports the difference in `.text` (the executor, its checks and the
//! kernels the model links) and in `.rodata` (weights, plan). Written to
//! `benches/qemu/code-size.csv`.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::toolchain::{self, THUMBV7EM};

/// The models the probe firmware can carry (its cargo features).
const MODELS: [&str; 2] = ["resnet8", "kws"];

pub fn code_size(root: &Path) -> Result<()> {
    toolchain::ensure_targets(&[THUMBV7EM])?;
    let base = build(root, None)?;
    let mut csv = String::from("model,target,runtime_text_bytes,model_rodata_bytes\n");
    println!(
        "{:<10} {:>22} {:>26}",
        "model", "runtime code (.text)", "weights+plan (.rodata)"
    );
    for model in MODELS {
        let s = build(root, Some(model))?;
        let text = s.text - base.text;
        let rodata = s.rodata - base.rodata;
        println!("{model:<10} {text:>20} B {rodata:>24} B");
        csv.push_str(&format!("{model},{THUMBV7EM},{text},{rodata}\n"));
    }
    let out = root.join("benches/qemu/code-size.csv");
    std::fs::write(&out, csv).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

struct Sizes {
    text: u64,
    rodata: u64,
}

fn build(root: &Path, model: Option<&str>) -> Result<Sizes> {
    let dir = root.join("examples/code-size");
    let mut c = cmd::cargo(&dir);
    c.env("CARGO_TARGET_DIR", root.join("examples/target"))
        .args(["build", "--quiet", "--release"]);
    if let Some(m) = model {
        c.args(["--features", m]);
    }
    cmd::run(c)?;
    let elf = root
        .join("examples/target")
        .join(THUMBV7EM)
        .join("release/attonet-code-size");
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let sections = elf32_sections(&bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let size = |name: &str| {
        sections
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| s)
            .sum()
    };
    Ok(Sizes {
        text: size(".text"),
        rodata: size(".rodata"),
    })
}

/// Names and sizes of the sections of a little-endian ELF32 file.
fn elf32_sections(b: &[u8]) -> Result<Vec<(String, u64)>> {
    let u16_at = |o: usize| -> Result<usize> {
        Ok(u16::from_le_bytes(b.get(o..o + 2).context("truncated ELF")?.try_into()?) as usize)
    };
    let u32_at = |o: usize| -> Result<usize> {
        Ok(u32::from_le_bytes(b.get(o..o + 4).context("truncated ELF")?.try_into()?) as usize)
    };
    if b.get(..5) != Some(b"\x7fELF\x01") || b.get(5) != Some(&1) {
        bail!("not a little-endian ELF32 file");
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u32_at(0x20)?, u16_at(0x2e)?, u16_at(0x30)?, u16_at(0x32)?);
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 0x10)?;
    let mut out = Vec::new();
    for i in 0..shnum {
        let h = header(i);
        let name_at = strtab + u32_at(h)?;
        let end = b[name_at..]
            .iter()
            .position(|&c| c == 0)
            .context("unterminated section name")?;
        let name = String::from_utf8_lossy(&b[name_at..name_at + end]).into_owned();
        out.push((name, u32_at(h + 0x14)? as u64));
    }
    Ok(out)
}
