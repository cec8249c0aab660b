//! A static upper bound of the stack, from a linked firmware's machine code.
//!
//! The input is `llvm-objdump -d -C` of the final ELF (Thumb-2 or RV32): the
//! very code that runs, with every call's address resolved by the linker.
//! For each function (a symbol of `.text`; mapping symbols `$t`/`$d` and
//! local labels `.L*` belong to the function before them):
//!
//! * its **frame** is the sum of every instruction that moves the stack
//!   pointer down (`push`, `vpush`, `sub sp`, `str ..., [sp, #-N]!`;
//!   `addi sp, sp, -N`, `sub sp, sp, rX` with `rX` a constant), so an upper
//!   bound of its own stack at any point, whatever its branches do. An
//!   instruction that writes the stack pointer in a way not understood here
//!   (a dynamic `alloca`, `msr msp`) is a problem;
//! * its **calls** are the direct `bl`/`blx`/`jal` targets and the branches
//!   that leave it (tail calls, counted as calls: an over-estimate). An
//!   indirect call or jump (`blx r3`, `jalr a5`, `bx r2`) is a problem,
//!   unless the register holds a constant (`auipc`+`jalr`).
//!
//! The bound of a function is its frame plus the largest bound of its
//! callees; a cycle (recursion) is a problem. [`Graph::bound`] computes the
//! stack at the deepest point under a function `measured` plus the deepest
//! chain of frames from `root` down to it, and refuses to call the result a
//! bound while any problem is left under `measured` or on a chain to it.
//!
//! Calls into the panic machinery ([`is_panic_path`]) are cut and counted: a
//! panic ends the firmware (its handler exits), so the bound covers the
//! inferences that return.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The instruction set of the disassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Thumb / Thumb-2 (Cortex-M).
    Thumb,
    /// RV32 (with the C extension's aliases as llvm-objdump prints them).
    RiscV,
}

/// One function of the firmware.
#[derive(Debug, Clone, Default)]
pub struct Function {
    pub name: String,
    pub addr: u64,
    /// Bytes the function can move the stack pointer down, at most.
    pub frame: u64,
    /// Addresses it calls or tail-calls.
    pub calls: BTreeSet<u64>,
    /// What keeps its frame or its calls from being known, one line each.
    pub problems: Vec<String>,
}

/// The functions of a firmware, by address.
#[derive(Debug, Default)]
pub struct Graph {
    pub functions: BTreeMap<u64, Function>,
    /// Functions that call themselves, with the most activations of each
    /// that can be on the stack at once (name prefix, activations): known
    /// from their source, see [`Graph::allow_recursion`]. Any other
    /// recursion is refused.
    pub recursion: Vec<(String, u64)>,
}

/// A bound, with what it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Bytes of stack at most, from `root`'s entry to the deepest point
    /// under `measured`.
    pub bytes: u64,
    /// The chain that gives it: each function with its frame.
    pub path: Vec<(String, u64)>,
    /// Call sites into the panic machinery left out (see the module docs).
    pub panic_sites: usize,
}

/// Whether a function (demangled name) belongs to the panic machinery: it
/// only runs on the way to the panic handler, which exits the firmware.
pub fn is_panic_path(name: &str) -> bool {
    name.starts_with("core::panicking::")
        || name.starts_with("rust_begin_unwind")
        || name.starts_with("core::result::unwrap_failed")
        || name.starts_with("core::option::unwrap_failed")
        || name.starts_with("core::option::expect_failed")
        || name.starts_with("core::slice::index::slice_")
            && (name.contains("_fail") || name.contains("order_fail"))
        || name.starts_with("core::str::slice_error_fail")
        || name.starts_with("core::cell::panic_already")
}

/// The loaded bytes of a firmware (its ELF sections with contents), to
/// read jump tables.
#[derive(Debug, Default)]
pub struct Image {
    /// (address, bytes) of each section.
    pub sections: Vec<(u64, Vec<u8>)>,
    /// The size of each function symbol (`STT_FUNC`) by address (the Thumb
    /// bit cleared): what follows it up to the next symbol is padding
    /// (lld fills it with `0xd4d4`, which decodes as branches).
    pub sizes: BTreeMap<u64, u64>,
}

impl Image {
    /// The little-endian word at `addr`, if the image holds it.
    pub fn word(&self, addr: u64) -> Option<u32> {
        self.sections.iter().find_map(|(base, bytes)| {
            let at = usize::try_from(addr.checked_sub(*base)?).ok()?;
            let b = bytes.get(at..at.checked_add(4)?)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
    }

    /// The sections with contents of a little-endian ELF32 file.
    pub fn from_elf32(b: &[u8]) -> Result<Image, String> {
        let u16_at = |o: usize| -> Result<usize, String> {
            let s = b.get(o..o + 2).ok_or("truncated ELF")?;
            Ok(u16::from_le_bytes([s[0], s[1]]) as usize)
        };
        let u32_at = |o: usize| -> Result<usize, String> {
            let s = b.get(o..o + 4).ok_or("truncated ELF")?;
            Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        };
        if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1]) {
            return Err("not a little-endian ELF32 file".into());
        }
        let (shoff, shentsize, shnum) = (u32_at(0x20)?, u16_at(0x2e)?, u16_at(0x30)?);
        let mut sections = Vec::new();
        let mut sizes = BTreeMap::new();
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            let (kind, flags, addr, offset, size) = (
                u32_at(h + 4)?,
                u32_at(h + 8)?,
                u32_at(h + 12)?,
                u32_at(h + 16)?,
                u32_at(h + 20)?,
            );
            // SHT_SYMTAB: the function symbols' sizes.
            if kind == 2 {
                for sym in (offset..offset.saturating_add(size)).step_by(16) {
                    let (value, sym_size) = (u32_at(sym + 4)?, u32_at(sym + 8)?);
                    let info = *b.get(sym + 12).ok_or("truncated ELF")?;
                    if info & 0xf == 2 && sym_size > 0 {
                        sizes.insert(value as u64 & !1, sym_size as u64);
                    }
                }
                continue;
            }
            // SHF_ALLOC with contents (not SHT_NOBITS, 8).
            if flags & 2 == 0 || kind == 8 || size == 0 {
                continue;
            }
            let bytes = b
                .get(offset..offset.checked_add(size).ok_or("section size overflows")?)
                .ok_or("a section lies beyond the end of the file")?;
            sections.push((addr as u64, bytes.to_vec()));
        }
        Ok(Image { sections, sizes })
    }
}

/// Parses `llvm-objdump -d -C --no-show-raw-insn` output; `image` holds the
/// firmware's bytes, for the jump tables of RISC-V `match`es.
pub fn parse(disassembly: &str, isa: Isa, image: &Image) -> Graph {
    let mut graph = Graph::default();
    let mut current: Option<Function> = None;
    // Each function's instructions, for the second pass (branches that
    // leave the function need every function's start).
    let mut bodies: Vec<(u64, Vec<Line>)> = Vec::new();
    for line in disassembly.lines() {
        if let Some((addr, name)) = header(line) {
            if name.starts_with('$') || name.starts_with(".L") {
                continue; // a mapping symbol or local label: same function
            }
            if let Some(f) = current.take() {
                graph.functions.insert(f.addr, f);
            }
            current = Some(Function {
                name: unescape(name),
                addr,
                ..Function::default()
            });
            bodies.push((addr, Vec::new()));
            continue;
        }
        let Some((addr, mnemonic, operands)) = instruction(line) else {
            continue;
        };
        if let Some((_, body)) = bodies.last_mut() {
            body.push((addr, mnemonic.to_string(), operands.to_string()));
        }
    }
    if let Some(f) = current.take() {
        graph.functions.insert(f.addr, f);
    }
    let starts: Vec<u64> = graph.functions.keys().copied().collect();
    for (start, body) in bodies {
        let next = starts
            .iter()
            .find(|&&s| s > start)
            .copied()
            .unwrap_or(u64::MAX);
        // The symbol's size where the ELF gives one: what follows is padding.
        let end = image
            .sizes
            .get(&start)
            .map_or(next, |n| next.min(start + n));
        let Some(f) = graph.functions.get_mut(&start) else {
            continue;
        };
        let mut consts = Constants::default();
        for (i, (addr, mnemonic, operands)) in body.iter().enumerate() {
            if *addr >= end {
                break;
            }
            let effect = match isa {
                Isa::Thumb => thumb(mnemonic, operands, &body[..i]),
                Isa::RiscV => riscv(*addr, mnemonic, operands, &mut consts),
            };
            let site = || format!("{addr:#x}: {mnemonic} {operands}");
            match effect {
                Effect::None => {}
                Effect::Down(n) => f.frame += n,
                Effect::Branch(target) => {
                    if target < start || target >= end {
                        f.calls.insert(target);
                    }
                }
                // Thumb-1 has no long `b`: a `bl` into the function's own
                // body (not its start) is a far branch, not a call.
                Effect::Call(target) if target > start && target < end => {}
                Effect::Call(target) => {
                    f.calls.insert(target);
                }
                // A RISC-V `match`: `jr` to a word of a table in the image.
                // LLVM's jump tables hold blocks of their own function: one
                // whose first entry lies in this function is taken as such
                // (a `jr` to a function pointer loaded from a table of
                // functions would point elsewhere, and is refused).
                Effect::JumpTable(base) => match image.word(base) {
                    // (A Thumb entry has the Thumb bit set.)
                    Some(w) if (start..end).contains(&(w as u64 & !1)) => {}
                    _ => f.problems.push(format!("indirect jump: {}", site())),
                },
                Effect::Unknown(why) => f.problems.push(format!("{why}: {}", site())),
            }
        }
        // A function whose last instruction does not end it runs on into
        // the next one: a call of it (hand-written code may do this).
        // (Alignment before a literal pool is a `nop`, on Thumb-1 `mov r8, r8`.)
        let padding = |m: &str, ops: &str| m == "nop" || (m == "mov" && ops == "r8, r8");
        let last = body
            .iter()
            .take_while(|(a, _, _)| *a < end)
            .filter(|(_, m, ops)| !padding(m, ops))
            .last();
        if let Some((_, m, ops)) = last {
            if !ends_function(isa, m, ops) && next != u64::MAX {
                f.calls.insert(next);
            }
        }
    }
    graph
}

/// Whether control cannot fall through this instruction to the next
/// address: a jump, a return, a trap, or a call at a function's end (which
/// does not return: the compiler puts nothing after a call that does).
fn ends_function(isa: Isa, mnemonic: &str, operands: &str) -> bool {
    let m = mnemonic
        .trim_start_matches("c.")
        .trim_end_matches(".w")
        .trim_end_matches(".n");
    match isa {
        Isa::Thumb => {
            matches!(
                m,
                "b" | "bx" | "bl" | "blx" | "udf" | "bkpt" | "tbb" | "tbh"
            ) || operands.starts_with("pc")
                || ((m == "pop" || m.starts_with("ldm")) && operands.contains("pc"))
        }
        Isa::RiscV => matches!(
            m,
            "j" | "jr" | "ret" | "tail" | "mret" | "unimp" | "ebreak" | "jal" | "jalr" | "call"
        ),
    }
}

/// A legacy-mangled Rust name as llvm-objdump leaves it
/// (`Ctx$LT$_$GT$::source`) with its escapes undone (`Ctx<_>::source`).
fn unescape(name: &str) -> String {
    [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$u20$", " "),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u27$", "'"),
        ("$LP$", "("),
        ("$RP$", ")"),
    ]
    .iter()
    .fold(name.to_string(), |n, (from, to)| n.replace(from, to))
}

/// One instruction: address, mnemonic, operands.
type Line = (u64, String, String);

/// `00000458 <name>:`
fn header(line: &str) -> Option<(u64, &str)> {
    let (addr, rest) = line.split_once(' ')?;
    let name = rest.strip_prefix('<')?.strip_suffix(">:")?;
    Some((u64::from_str_radix(addr, 16).ok()?, name))
}

/// `     45a:      \tmov\tr7, sp` (data words, `.word`, are skipped).
fn instruction(line: &str) -> Option<(u64, &str, &str)> {
    let (addr, rest) = line.split_once(':')?;
    let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
    let mut fields = rest.split('\t').map(str::trim).filter(|s| !s.is_empty());
    let mut mnemonic = fields.next()?;
    // Raw bytes, if any (data is always shown with them): skip groups of
    // hex byte pairs (`00 00 00 20`; not `add`, all hex digits too).
    let raw = |f: &str| {
        f.split(' ')
            .all(|t| t.len() % 2 == 0 && !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit()))
    };
    while raw(mnemonic) {
        mnemonic = fields.next()?;
    }
    if mnemonic.starts_with('.') || mnemonic == "<unknown>" {
        return None;
    }
    let operands = fields.next().unwrap_or("");
    // Drop the comment llvm-objdump appends (`@ imm = #8`, `<sym+0x4>`).
    let operands = operands.split(" @ ").next().unwrap_or("").trim();
    Some((addr, mnemonic, operands))
}

/// What one instruction does to the stack and the control flow.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    None,
    /// Moves the stack pointer down by this many bytes.
    Down(u64),
    /// A direct branch: a call if it leaves the function.
    Branch(u64),
    /// A direct call.
    Call(u64),
    /// A jump through the table at this address (RISC-V `match`).
    JumpTable(u64),
    /// Not understood: a problem.
    Unknown(&'static str),
}

/// The first `0x...` address of branch operands (`0x9736 <__pre_init>`).
fn target(operands: &str) -> Option<u64> {
    operands
        .split([' ', ','])
        .find_map(|w| w.strip_prefix("0x"))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

/// An immediate `#N`, `#0x1c`, `#-4`.
fn immediate(s: &str) -> Option<i64> {
    let s = s.trim().strip_prefix('#')?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let v = match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Registers in a list `{r4, r5, r7, lr}`, `{d8-d11}`: (count, bytes each).
fn register_list(operands: &str) -> Option<u64> {
    let inner = operands.split_once('{')?.1.split_once('}')?.0;
    let mut bytes = 0;
    for item in inner.split(',').map(str::trim) {
        let size = match item.chars().next()? {
            'd' => 8,
            _ => 4, // r, s, lr, pc, ip...
        };
        let count = match item.split_once('-') {
            Some((a, b)) => {
                let n = |r: &str| {
                    r.trim_start_matches(|c: char| c.is_alphabetic())
                        .parse::<u64>()
                };
                let (a, b) = (n(a).ok()?, n(b).ok()?);
                b.checked_sub(a)? + 1
            }
            None => 1,
        };
        bytes += size * count;
    }
    Some(bytes)
}

/// Thumb-2: `prior` holds the function's instructions before this one (for
/// the constant of a `sub sp, rN`).
fn thumb(mnemonic: &str, operands: &str, prior: &[Line]) -> Effect {
    let m = mnemonic.trim_end_matches(".w").trim_end_matches(".n");
    let ops: Vec<&str> = split_operands(operands);
    let first = ops.first().copied().unwrap_or("");
    match m {
        "push" | "vpush" => {
            return register_list(operands).map_or(Effect::Unknown("register list"), Effect::Down)
        }
        "stmdb" | "stmfd" | "vstmdb" if first == "sp!" => {
            return register_list(operands).map_or(Effect::Unknown("register list"), Effect::Down)
        }
        _ if is_call(m) => {
            return match target(operands) {
                Some(t) if operands.starts_with("0x") => Effect::Call(t),
                _ => Effect::Unknown("indirect call"),
            }
        }
        "bx" => {
            return if first == "lr" {
                Effect::None
            } else {
                Effect::Unknown("indirect jump")
            }
        }
        "cbz" | "cbnz" => return target(operands).map_or(Effect::None, Effect::Branch),
        "tbb" | "tbh" => return Effect::None, // a jump table inside the function
        _ => {}
    }
    // `b`, `beq`, `bne.w`, ... (not `bic`, `bfc`, `bfi`, `bkpt`).
    if let Some(cond) = m.strip_prefix('b') {
        if cond.is_empty() || CONDITIONS.contains(&cond) {
            return target(operands).map_or(Effect::Unknown("indirect branch"), Effect::Branch);
        }
    }
    // Thumb-1 jump tables: `add r0, pc; ldrb r0, [r0, #4]; lsls r0, r0, #1;
    // add pc, r0` (a forward branch by twice a byte of the inline table,
    // as `tbb`), and `adr r1, #4; ldr r0, [r1, r0]; mov pc, r0` (a table
    // of addresses after the jump: checked against the image).
    if m == "add" && first == "pc" {
        return Effect::None;
    }
    if m == "mov" && first == "pc" {
        if let Some(base) = thumb_adr_table(prior) {
            return Effect::JumpTable(base);
        }
    }
    // Writes of pc other than a return.
    let writes_pc =
        first == "pc" || (m.starts_with("ldm") || m == "pop") && operands.contains("pc");
    if writes_pc {
        let is_return = m == "pop"
            || (m.starts_with("ldm") && first == "sp!")
            || (m == "ldr" && operands.starts_with("pc, [sp], #"));
        return if is_return {
            Effect::None
        } else {
            Effect::Unknown("indirect jump")
        };
    }
    // Pre-indexed stores with writeback below sp: `str r0, [sp, #-8]!`.
    if m.starts_with("str") || m.starts_with("vstr") {
        if let Some(rest) = operands.split_once("[sp, ") {
            if let Some(off) = rest.1.strip_suffix("]!") {
                return match immediate(off) {
                    Some(v) if v < 0 => Effect::Down(v.unsigned_abs()),
                    Some(_) => Effect::None,
                    None => Effect::Unknown("stack pointer writeback"),
                };
            }
        }
        return Effect::None;
    }
    if first != "sp" && first != "sp!" {
        return Effect::None;
    }
    // Instructions whose destination is sp.
    match m {
        // `sub sp, #16`, `sub.w sp, sp, #4096`, `sub sp, r4`.
        "sub" | "subw" | "subs" => {
            let (base, amount) = match ops.len() {
                2 => ("sp", ops[1]),
                3 => (ops[1], ops[2]),
                _ => return Effect::Unknown("stack pointer arithmetic"),
            };
            if base != "sp" {
                // `sub.w sp, r7, #16`: restores sp from the frame pointer.
                return Effect::None;
            }
            match immediate(amount) {
                Some(v) if v >= 0 => Effect::Down(v as u64),
                Some(_) => Effect::Unknown("stack pointer arithmetic"),
                None => thumb_register_constant(amount, prior)
                    .map_or(Effect::Unknown("dynamic stack allocation"), Effect::Down),
            }
        }
        "add" | "addw" | "adds" => match ops
            .get(ops.len().saturating_sub(1))
            .and_then(|o| immediate(o))
        {
            Some(v) if v >= 0 => Effect::None,
            _ if ops.len() == 3 && ops[1] != "sp" => Effect::None, // from a frame pointer
            _ => Effect::Unknown("stack pointer arithmetic"),
        },
        // `mov sp, r7`: back to the frame pointer (an epilogue).
        "mov" => Effect::None,
        "ldr" | "pop" | "ldm" | "ldmia" => Effect::None,
        // `stm sp, {r0, r1}`: stores at sp, which does not move.
        "stm" | "stmia" | "stmea" if first == "sp" => Effect::None,
        _ => Effect::Unknown("stack pointer write"),
    }
}

/// The table address of an `adr rX, #imm` among the last instructions
/// before a `mov pc, rN` (`((pc of adr + 4) & !3) + imm`).
fn thumb_adr_table(prior: &[Line]) -> Option<u64> {
    prior.iter().rev().take(4).find_map(|(addr, m, ops)| {
        if m != "adr" {
            return None;
        }
        let imm = immediate(split_operands(ops).get(1)?.split(' ').next()?)?;
        Some((((addr + 4) & !3) as i64 + imm) as u64)
    })
}

/// The Arm condition codes.
const CONDITIONS: [&str; 17] = [
    "eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
    "al",
];

/// `bl`, `blx`, and either with a condition (in an IT block: `blne`).
fn is_call(m: &str) -> bool {
    let cond = m.strip_prefix("blx").or_else(|| m.strip_prefix("bl"));
    cond.is_some_and(|c| c.is_empty() || CONDITIONS.contains(&c))
}

/// `movw rN, #lo` (and `movt rN, #hi`) before a `sub sp, rN`, the nearest
/// writes of `rN` in the function.
fn thumb_register_constant(reg: &str, prior: &[Line]) -> Option<u64> {
    let mut value: Option<u64> = None;
    let mut high: Option<u64> = None;
    for (_, m, ops) in prior.iter().rev() {
        let o = split_operands(ops);
        if o.first() != Some(&reg) {
            continue;
        }
        let m = m.trim_end_matches(".w");
        match m {
            "movt" if high.is_none() => high = immediate(o.get(1)?).map(|v| v as u64),
            "movw" | "mov" | "movs" => {
                value = immediate(o.get(1)?).filter(|&v| v >= 0).map(|v| v as u64);
                break;
            }
            _ => return None, // written by something else: not a constant
        }
    }
    Some(value? | (high.unwrap_or(0) << 16))
}

fn split_operands(operands: &str) -> Vec<&str> {
    // Braces hold lists with commas: keep them whole.
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in operands.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(operands[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = operands[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// RISC-V registers holding known constants (`lui`, `auipc`, `li`, `addi`),
/// forgotten at every label-free write we do not model. Good enough for the
/// `auipc ra, N; jalr off(ra)` of far calls and the `lui a0, N; sub sp, sp,
/// a0` of large frames, which follow each other.
#[derive(Debug, Default)]
struct Constants(BTreeMap<String, i64>, Tables);

/// RISC-V registers holding a constant base plus an index (`add a1, a1,
/// a2` with `a2` a table's address), and those loaded from such an address
/// (`lw a1, 0(a1)`): the table's address.
#[derive(Debug, Default)]
struct Tables {
    indexed: BTreeMap<String, i64>,
    loaded: BTreeMap<String, i64>,
}

fn riscv(addr: u64, mnemonic: &str, operands: &str, consts: &mut Constants) -> Effect {
    let m = mnemonic.trim_start_matches("c.");
    let ops = split_operands(operands);
    let first = ops.first().copied().unwrap_or("");
    let num = |s: &str| -> Option<i64> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let v = match s.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16).ok()?,
            None => s.parse().ok()?,
        };
        Some(if neg { -v } else { v })
    };
    let effect = match m {
        "jal" | "call" => match ops.as_slice() {
            [t] | ["ra", t] => num(t.split(' ').next().unwrap_or(""))
                .map_or(Effect::Unknown("call"), |v| Effect::Call(v as u64)),
            _ => match target(operands) {
                // `jal zero, X` would be `j`; any other link register: a call.
                Some(t) => Effect::Call(t),
                None => Effect::Unknown("call"),
            },
        },
        "j" | "tail" => target(operands).map_or(Effect::Unknown("jump"), Effect::Branch),
        "jalr" | "jr" => {
            // `jalr a5`, `jalr 0x1c(ra)`, `jr a0`, `jr 0x8(ra)`.
            let (offset, reg) = match first.split_once('(') {
                // `0x1c(ra) <_setup_interrupts>`: the register is up to `)`.
                Some((off, reg)) => (num(off).unwrap_or(0), reg.split(')').next().unwrap_or("")),
                // `ra <Paint::new>`: the register, without objdump's note.
                None => (0, first.split_whitespace().next().unwrap_or(first)),
            };
            // RV32 addresses: wrap to 32 bits (`lui` of a high address is
            // negative as a 64-bit value).
            let dest = consts.0.get(reg).map(|v| (v + offset) as u32 as u64);
            let table = consts
                .1
                .loaded
                .get(reg)
                .map(|&b| (b + offset) as u32 as u64);
            match (m, dest) {
                ("jr", _) if reg == "ra" => Effect::None, // a return
                ("jr", None) if table.is_some() => Effect::JumpTable(table.unwrap_or(0)),
                ("jalr", Some(t)) => Effect::Call(t),
                ("jr", Some(t)) => Effect::Branch(t),
                ("jalr", None) => Effect::Unknown("indirect call"),
                _ => Effect::Unknown("indirect jump"),
            }
        }
        "ret" | "mret" => Effect::None,
        b if b.starts_with('b') && b != "bclr" && b != "bset" => {
            target(operands).map_or(Effect::None, Effect::Branch)
        }
        _ if first == "sp" => match (m, ops.as_slice()) {
            ("addi", ["sp", "sp", v]) => match num(v) {
                Some(v) if v < 0 => Effect::Down(v.unsigned_abs()),
                Some(_) => Effect::None,
                None => Effect::Unknown("stack pointer arithmetic"),
            },
            // `addi sp, s0, -16`, `mv sp, s0`: back to the frame pointer.
            ("addi", ["sp", base, _]) | ("mv", ["sp", base]) if *base != "sp" => Effect::None,
            ("sub", ["sp", "sp", r]) => match consts.0.get(*r) {
                Some(&v) if v >= 0 => Effect::Down(v as u64),
                _ => Effect::Unknown("dynamic stack allocation"),
            },
            ("add", ["sp", "sp", r]) => match consts.0.get(*r) {
                Some(&v) if v >= 0 => Effect::None,
                Some(&v) => Effect::Down(v.unsigned_abs()),
                None => Effect::Unknown("dynamic stack allocation"),
            },
            // `andi sp, sp, -16`: realigns, moving sp down by up to 15.
            ("andi", ["sp", "sp", v]) => match num(v) {
                Some(v) if v < 0 => Effect::Down(v.unsigned_abs() - 1),
                _ => Effect::Unknown("stack pointer arithmetic"),
            },
            ("lw", _) => Effect::None,
            _ => Effect::Unknown("stack pointer write"),
        },
        _ => Effect::None,
    };
    // Track constants (after using them: `jalr 0x1c(ra)` reads the auipc's ra).
    let imm = |i: usize| ops.get(i).and_then(|s| num(s));
    match m {
        "lui" => set(consts, first, imm(1).map(|v| (v << 12) as i32 as i64)),
        "auipc" => set(
            consts,
            first,
            imm(1).map(|v| addr as i64 + ((v << 12) as i32 as i64)),
        ),
        "li" => set(consts, first, imm(1)),
        "addi" if ops.len() == 3 => {
            let base = consts.0.get(ops[1]).copied();
            set(consts, first, base.zip(imm(2)).map(|(b, v)| b + v))
        }
        // `mv a2, a2` (what the linker leaves of `addi a2, a2, %lo(X)` when
        // the low part is 0) keeps the constant.
        "mv" if ops.len() == 2 => {
            let v = consts.0.get(ops[1]).copied();
            set(consts, first, v)
        }
        // Stores write memory, not their first register.
        "sw" | "sh" | "sb" | "fsw" | "fsd" | "swsp" | "fswsp" => {}
        _ => {
            consts.0.remove(first);
        }
    }
    // Table addresses: `add rd, rs1, rs2` with one of them a constant, then
    // `lw rd, off(rs)` from it. Any other write forgets the register.
    let table_base = match (m, ops.as_slice()) {
        ("add", [_, a, b]) => match (consts.0.get(*a), consts.0.get(*b)) {
            (Some(&c), None) | (None, Some(&c)) => Some(c),
            _ => None,
        },
        _ => None,
    };
    let loaded = match (m, ops.as_slice()) {
        ("lw", [_, addr]) => addr.split_once('(').and_then(|(off, reg)| {
            let base = consts.1.indexed.get(reg.trim_end_matches(')'))?;
            Some(base + num(off).unwrap_or(0))
        }),
        _ => None,
    };
    if !matches!(m, "sw" | "sh" | "sb" | "fsw" | "fsd" | "swsp" | "fswsp") {
        consts.1.indexed.remove(first);
        consts.1.loaded.remove(first);
    }
    if let Some(b) = table_base {
        consts.1.indexed.insert(first.to_string(), b);
    }
    if let Some(b) = loaded {
        consts.1.loaded.insert(first.to_string(), b);
    }
    // Control flow: forget everything (a call clobbers the caller-saved
    // registers; another path may reach the next instruction).
    let transfer = effect != Effect::None || m.starts_with('b') || m == "ret";
    if transfer && !matches!(effect, Effect::Down(_)) {
        consts.0.clear();
        consts.1 = Tables::default();
    }
    effect
}

fn set(consts: &mut Constants, reg: &str, value: Option<i64>) {
    match value {
        Some(v) => {
            consts.0.insert(reg.to_string(), v);
        }
        None => {
            consts.0.remove(reg);
        }
    }
}

impl Graph {
    /// Declares that the functions whose (demangled) name starts with
    /// `prefix` may call themselves directly, `activations` deep at most
    /// (the caller must know it from their source: a depth argument that
    /// falls by one on every call, bounded by a constant).
    pub fn allow_recursion(&mut self, prefix: &str, activations: u64) {
        self.recursion.push((prefix.to_string(), activations));
    }

    /// Declares where the indirect calls of the functions whose name starts
    /// with `caller` go: to every function whose name starts with `callee`
    /// (the caller must know it from their source: a function pointer of one
    /// type that only ever holds those). Each such call site becomes a call
    /// of all of them; Err when no function is named `callee`. Indirect
    /// jumps stay problems.
    pub fn resolve_indirect_calls(&mut self, caller: &str, callee: &str) -> Result<usize, String> {
        let targets: Vec<u64> = self
            .functions
            .values()
            .filter(|f| f.name.starts_with(callee))
            .map(|f| f.addr)
            .collect();
        if targets.is_empty() {
            return Err(format!(
                "no function {callee} for the indirect calls of {caller}"
            ));
        }
        let mut resolved = 0;
        for f in self.functions.values_mut() {
            if !f.name.starts_with(caller) {
                continue;
            }
            let before = f.problems.len();
            f.problems.retain(|p| !p.starts_with("indirect call:"));
            if f.problems.len() < before {
                resolved += before - f.problems.len();
                f.calls.extend(&targets);
            }
        }
        Ok(resolved)
    }

    /// The most stack `f` takes by itself: its frame, times its declared
    /// activations if it calls itself; Err for an undeclared self-call.
    fn own_stack(&self, f: &Function) -> Result<u64, String> {
        let recursive = f
            .calls
            .iter()
            .any(|&c| self.containing(c).is_some_and(|c| c.addr == f.addr));
        if !recursive {
            return Ok(f.frame);
        }
        match self
            .recursion
            .iter()
            .find(|(p, _)| f.name.starts_with(p.as_str()))
        {
            Some((_, n)) => Ok(f.frame * n),
            None => Err(format!("recursion: {} calls itself", f.name)),
        }
    }

    /// The function whose name starts with `prefix` (demangled, without
    /// the hash); several (monomorphizations) or none is an error.
    pub fn find(&self, prefix: &str) -> Result<u64, String> {
        let found: Vec<&Function> = self
            .functions
            .values()
            .filter(|f| {
                f.name == prefix
                    || f.name.starts_with(&format!("{prefix}::h"))
                    || f.name.starts_with(&format!("{prefix}::<"))
            })
            .collect();
        match found.as_slice() {
            [f] => Ok(f.addr),
            [] => Err(format!("no function {prefix} in the firmware")),
            many => Err(format!(
                "{} functions named {prefix}: {:?}",
                many.len(),
                many.iter().map(|f| &f.name).collect::<Vec<_>>()
            )),
        }
    }

    /// The stack from `root`'s entry to the deepest point under `measured`:
    /// the deepest chain of frames from `root` to `measured` (the frames of
    /// the functions before it) plus `measured`'s own bound. Err: every
    /// problem in the way, one a line.
    pub fn bound(&self, root: u64, measured: u64) -> Result<Bound, String> {
        let mut problems = BTreeSet::new();
        let mut below = BTreeMap::new();
        let mut panic_sites = 0;
        let mut visiting = Vec::new();
        let under = self.deepest(
            measured,
            &mut below,
            &mut visiting,
            &mut problems,
            &mut panic_sites,
        );
        // Chains from root to measured: frames above it.
        let mut above = BTreeMap::new();
        let mut visiting = Vec::new();
        let mut cyclic = BTreeSet::new();
        let chain = self.chain_to(root, measured, &mut above, &mut visiting, &mut cyclic);
        // Functions on a chain to `measured` that one of these cycles
        // passes: recursion above it.
        for &a in &cyclic {
            if let Some(Some(_)) = above.get(&a) {
                problems.insert(format!(
                    "recursion above the measured function, through {}",
                    self.name(a)
                ));
            }
        }
        for (&a, reached) in &above {
            if reached.is_none() {
                continue;
            }
            // On a chain to the target: its unknowns matter (an indirect
            // call here could reach the target again, deeper).
            for p in &self.functions[&a].problems {
                problems.insert(format!(
                    "{} (above the measured function): {p}",
                    self.name(a)
                ));
            }
        }
        if !problems.is_empty() {
            let mut s = String::new();
            for p in &problems {
                let _ = writeln!(s, "  {p}");
            }
            return Err(s);
        }
        let (Some((under_bytes, _)), Some((above_bytes, _))) = (under, chain) else {
            return Err(format!(
                "  {} is not reached from {} by direct calls",
                self.name(measured),
                self.name(root)
            ));
        };
        // The path: root .. measured's caller, then measured's deepest chain.
        let mut path = Vec::new();
        let mut at = root;
        while at != measured {
            let f = &self.functions[&at];
            path.push((f.name.clone(), f.frame));
            let Some(Some((_, next))) = above.get(&at) else {
                break;
            };
            at = *next;
        }
        let mut at = Some(measured);
        while let Some(a) = at {
            let f = &self.functions[&a];
            path.push((f.name.clone(), self.own_stack(f).unwrap_or(f.frame)));
            at = below
                .get(&a)
                .and_then(|d: &Option<(u64, Option<u64>)>| d.and_then(|(_, n)| n));
        }
        Ok(Bound {
            bytes: above_bytes + under_bytes,
            path,
            panic_sites,
        })
    }

    fn name(&self, addr: u64) -> String {
        self.functions
            .get(&addr)
            .map_or_else(|| format!("{addr:#x}"), |f| f.name.clone())
    }

    /// The function containing `addr` (a call into a function's middle
    /// counts as a call of it).
    fn containing(&self, addr: u64) -> Option<&Function> {
        self.functions.range(..=addr).next_back().map(|(_, f)| f)
    }

    /// Deepest stack under `addr` (its frame included) and the callee on
    /// that chain; memoized in `memo`.
    fn deepest(
        &self,
        addr: u64,
        memo: &mut BTreeMap<u64, Option<(u64, Option<u64>)>>,
        visiting: &mut Vec<u64>,
        problems: &mut BTreeSet<String>,
        panic_sites: &mut usize,
    ) -> Option<(u64, Option<u64>)> {
        if let Some(done) = memo.get(&addr) {
            return *done;
        }
        let Some(f) = self.containing(addr) else {
            problems.insert(format!("call to {addr:#x}, outside every function"));
            return None;
        };
        if visiting.contains(&f.addr) {
            let cycle: Vec<String> = visiting
                .iter()
                .skip_while(|&&a| a != f.addr)
                .map(|&a| self.name(a))
                .collect();
            problems.insert(format!("recursion: {} -> {}", cycle.join(" -> "), f.name));
            return None;
        }
        visiting.push(f.addr);
        for p in &f.problems {
            problems.insert(format!("{}: {p}", f.name));
        }
        // A function that calls itself (declared): all its activations
        // under the callee of the deepest one.
        let own = match self.own_stack(f) {
            Ok(n) => n,
            Err(e) => {
                problems.insert(e);
                visiting.pop();
                return None;
            }
        };
        let mut best: Option<(u64, Option<u64>)> = Some((own, None));
        for &callee in &f.calls {
            let callee_fn = self.containing(callee);
            if let Some(c) = callee_fn {
                if is_panic_path(&c.name) {
                    *panic_sites += 1;
                    continue;
                }
                if c.addr == f.addr {
                    continue; // its own activations: counted in `own`
                }
            }
            let d = self.deepest(callee, memo, visiting, problems, panic_sites);
            best = match (best, d) {
                (Some((b, n)), Some((c, _))) => {
                    let key = callee_fn.map_or(callee, |c| c.addr);
                    if own + c > b {
                        Some((own + c, Some(key)))
                    } else {
                        Some((b, n))
                    }
                }
                _ => None,
            };
        }
        visiting.pop();
        memo.insert(addr, best);
        if addr != f.addr {
            memo.insert(f.addr, best);
        }
        best
    }

    /// Deepest chain of frames from `addr` down to (not including)
    /// `target`, and the next function on it; `None` inside the `Option`:
    /// `target` is not reached from `addr`.
    fn chain_to(
        &self,
        addr: u64,
        target: u64,
        memo: &mut BTreeMap<u64, Option<(u64, u64)>>,
        visiting: &mut Vec<u64>,
        cyclic: &mut BTreeSet<u64>,
    ) -> Option<(u64, u64)> {
        if addr == target {
            return Some((0, target));
        }
        if let Some(done) = memo.get(&addr) {
            return *done;
        }
        let f = self.containing(addr)?;
        if f.addr == target {
            return Some((0, target));
        }
        if visiting.contains(&f.addr) {
            // A cycle: recursion above the target if it reaches it (the
            // caller checks once every chain is known).
            cyclic.extend(visiting.iter().skip_while(|&&a| a != f.addr));
            return None;
        }
        visiting.push(f.addr);
        let mut best: Option<(u64, u64)> = None;
        for &callee in &f.calls {
            if self
                .containing(callee)
                .is_some_and(|c| is_panic_path(&c.name))
            {
                continue;
            }
            if let Some((d, _)) = self.chain_to(callee, target, memo, visiting, cyclic) {
                let key = self.containing(callee).map_or(callee, |c| c.addr);
                if best.is_none_or(|(b, _)| f.frame + d > b) {
                    best = Some((f.frame + d, key));
                }
            }
        }
        visiting.pop();
        memo.insert(f.addr, best);
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Thumb-2 firmware in llvm-objdump's format; the known answer:
    /// main (push 8, sub 16: 24) -> outer (push 20) -> leaf_big (vpush 16,
    /// sub.w 256: 272), 316 B from main; leaf_small (8 + `movw`'d 32) and
    /// the tail call (8) are shallower, the panic path (1 KiB) is cut.
    const THUMB: &str = "
00001000 <main>:
    1000:      \tpush\t{r7, lr}
    1002:      \tsub\tsp, #0x10
    1004:      \tbl\t0x1100 <outer>     @ imm = #248
    1008:      \tadd\tsp, #0x10
    100a:      \tpop\t{r7, pc}

0000100c <$d>:
    100c:\t00 00 00 20\t.word\t0x20000000

00001100 <outer>:
    1100:      \tpush\t{r4, r5, r6, r7, lr}
    1102:      \tbl\t0x1200 <leaf_big>
    1106:      \tbl\t0x1300 <leaf_small>
    110a:      \tcbz\tr0, 0x1110 <outer+0x10>
    110c:      \tpop.w\t{r4, r5, r6, r7, lr}
    1110:      \tb.w\t0x1400 <tail>

00001200 <leaf_big>:
    1200:      \tvpush\t{d8, d9}
    1204:      \tsub.w\tsp, sp, #0x100
    1208:      \tadd.w\tsp, sp, #0x100
    120c:      \tvpop\t{d8, d9}
    1210:      \tbx\tlr

00001300 <leaf_small>:
    1300:      \tpush\t{r7, lr}
    1302:      \tmovw\tr4, #0x20
    1306:      \tsub\tsp, r4
    1308:      \tbl\t0x1500 <core::panicking::panic_bounds_check>
    130c:      \tmov\tsp, r7
    130e:      \tpop\t{r7, pc}

00001400 <tail>:
    1400:      \tstr\tr0, [sp, #-0x8]!
    1404:      \tldr\tr0, [sp], #8
    1406:      \tbx\tlr

00001500 <core::panicking::panic_bounds_check>:
    1500:      \tsub\tsp, #0x400
    1502:      \tblx\tr3
";

    fn bound_of(text: &str, isa: Isa, root: &str, measured: &str) -> Result<Bound, String> {
        let g = parse(text, isa, &Image::default());
        g.bound(g.find(root)?, g.find(measured)?)
    }

    #[test]
    fn thumb_bound_of_a_known_graph() {
        let b = bound_of(THUMB, Isa::Thumb, "main", "outer").unwrap();
        assert_eq!(b.bytes, 24 + 20 + 272);
        assert_eq!(b.panic_sites, 1);
        let names: Vec<&str> = b.path.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["main", "outer", "leaf_big"]);
        let g = parse(THUMB, Isa::Thumb, &Image::default());
        let frame = |n: &str| g.functions[&g.find(n).unwrap()].frame;
        assert_eq!(
            [frame("leaf_small"), frame("tail"), frame("main")],
            [40, 8, 24]
        );
        // Measured at the root: nothing above it.
        let b = bound_of(THUMB, Isa::Thumb, "main", "main").unwrap();
        assert_eq!(b.bytes, 316);
    }

    #[test]
    fn unknowns_are_refused_not_bounded() {
        // An indirect call under the measured function.
        let text = THUMB.replace("\tbl\t0x1300 <leaf_small>", "\tblx\tr3");
        let e = bound_of(&text, Isa::Thumb, "main", "outer").unwrap_err();
        assert!(e.contains("indirect call") && e.contains("outer"), "{e}");
        // ... unless declared: then a call of every function it may reach.
        let mut g = parse(&text, Isa::Thumb, &Image::default());
        assert_eq!(g.resolve_indirect_calls("outer", "leaf_"), Ok(1));
        let b = g.bound(g.find("main").unwrap(), g.find("outer").unwrap());
        assert_eq!(b.unwrap().bytes, 316);
        assert!(g.resolve_indirect_calls("outer", "nothing").is_err());
        // A stack allocation of a size computed at run time.
        let text = THUMB.replace("\tmovw\tr4, #0x20", "\tldr\tr4, [r0]");
        let e = bound_of(&text, Isa::Thumb, "main", "outer").unwrap_err();
        assert!(e.contains("dynamic stack allocation"), "{e}");
        // Recursion: leaf_big calls outer.
        let text = THUMB.replace("\tadd.w\tsp, sp, #0x100", "\tbl\t0x1100 <outer>");
        let e = bound_of(&text, Isa::Thumb, "main", "outer").unwrap_err();
        assert!(e.contains("recursion"), "{e}");
        // A function calling itself: refused unless declared, then each of
        // its activations counts (8 x 40 B under main and outer).
        let text = THUMB.replace(
            "\tbl\t0x1500 <core::panicking::panic_bounds_check>",
            "\tbl\t0x1300 <leaf_small>",
        );
        let e = bound_of(&text, Isa::Thumb, "main", "outer").unwrap_err();
        assert!(e.contains("leaf_small calls itself"), "{e}");
        let mut g = parse(&text, Isa::Thumb, &Image::default());
        g.allow_recursion("leaf_small", 8);
        let b = g
            .bound(g.find("main").unwrap(), g.find("outer").unwrap())
            .unwrap();
        assert_eq!(b.bytes, 24 + 20 + 8 * 40);
        // lld's padding after a function (0xd4d4, decoded as branches into
        // the function before): cut by the symbol's size from the ELF.
        let text = THUMB.replace(
            "    1210:      \tbx\tlr\n",
            "    1210:      \tbx\tlr\n    1212:      \tbmi\t0x1104 <outer+0x4>\n",
        );
        assert!(bound_of(&text, Isa::Thumb, "main", "outer").is_err());
        let sized = Image {
            sizes: BTreeMap::from([(0x1200, 0x12)]),
            ..Image::default()
        };
        let g = parse(&text, Isa::Thumb, &sized);
        let b = g.bound(g.find("main").unwrap(), g.find("outer").unwrap());
        assert_eq!(b.unwrap().bytes, 316);
        // Falling off the end into the next function: a call of it.
        let text = THUMB.replace("    1406:      \tbx\tlr\n", "    1406:      \tnop\n");
        let b = bound_of(&text, Isa::Thumb, "main", "outer").unwrap();
        assert_eq!(b.panic_sites, 2, "tail runs on into the panic path");
        // An indirect jump above the measured function.
        let text = THUMB.replace("\tadd\tsp, #0x10", "\tbx\tr2");
        let e = bound_of(&text, Isa::Thumb, "main", "outer").unwrap_err();
        assert!(e.contains("above the measured function"), "{e}");
        // Not reached.
        assert!(bound_of(THUMB, Isa::Thumb, "tail", "outer").is_err());
    }

    /// RV32: an `auipc`+`jalr` far call, a large frame through `lui` and
    /// `sub sp, sp, a0`, a `jal`: 16 + 4,096 + 32.
    const RISCV: &str = "
80000000 <main>:
80000000:      \taddi\tsp, sp, -0x10
80000002:      \tauipc\tra, 0x0
80000006:      \tjalr\t0x1e(ra) <work>
8000000a:      \taddi\tsp, sp, 0x10
8000000c:      \tret

80000020 <work>:
80000020:      \tlui\ta0, 0x1
80000024:      \tsub\tsp, sp, a0
80000028:      \tjal\t0x80000040 <leaf>
8000002c:      \tlui\ta0, 0x1
80000030:      \tadd\tsp, sp, a0
80000034:      \tret

80000040 <leaf>:
80000040:      \taddi\tsp, sp, -0x20
80000042:      \tbeqz\ta0, 0x80000046 <leaf+0x6>
80000044:      \taddi\tsp, sp, 0x20
80000046:      \tret
";

    #[test]
    fn riscv_bound_of_a_known_graph() {
        let b = bound_of(RISCV, Isa::RiscV, "main", "work").unwrap();
        assert_eq!(b.bytes, 16 + 4096 + 32);
        let text = RISCV.replace("\tjal\t0x80000040 <leaf>", "\tjalr\ta5");
        let e = bound_of(&text, Isa::RiscV, "main", "work").unwrap_err();
        assert!(e.contains("indirect call"), "{e}");
        let text = RISCV.replace("\tlui\ta0, 0x1\n80000024", "\tlw\ta0, 0x0(a1)\n80000024");
        let e = bound_of(&text, Isa::RiscV, "main", "work").unwrap_err();
        assert!(e.contains("dynamic stack allocation"), "{e}");
    }

    /// Thumb-1 (Cortex-M0): a `bl` into the function's own body is a far
    /// branch; `add pc, r0` (a byte table, as `tbb`) stays inside; a `mov
    /// pc, r0` through an `adr` table is inside when the table says so.
    #[test]
    fn thumb1_branches_and_tables() {
        let text = "
00002000 <main>:
    2000:      \tpush\t{r7, lr}
    2002:      \tbl\t0x2010 <main+0x10>
    2006:      \tadd\tpc, r0
    2008:      \tadr\tr1, #4 <main+0xc>
    200a:      \tldr\tr0, [r1, r0]
    200c:      \tmov\tpc, r0
    2010:      \tstm\tsp, {r0, r1}
    2012:      \tbl\t0x2100 <leaf>
    2016:      \tpop\t{r7, pc}

00002100 <leaf>:
    2100:      \tsub\tsp, #0x8
    2102:      \tbx\tlr
";
        // The table at (0x2008 + 4) & !3 + 4 = 0x2010: an entry in main.
        let inside = Image {
            sections: vec![(0x2010, 0x2013u32.to_le_bytes().to_vec())],
            ..Image::default()
        };
        let g = parse(text, Isa::Thumb, &inside);
        let main = g.find("main").unwrap();
        assert_eq!(g.bound(main, main).unwrap().bytes, 8 + 8);
        assert_eq!(g.functions[&main].calls.len(), 1);
        // A table entry elsewhere: a jump out of the function, refused.
        let outside = Image {
            sections: vec![(0x2010, 0x2101u32.to_le_bytes().to_vec())],
            ..Image::default()
        };
        let g = parse(text, Isa::Thumb, &outside);
        let e = g.bound(main, main).unwrap_err();
        assert!(e.contains("indirect jump"), "{e}");
    }

    /// RV32 `match`: `jr` through a table of the image.
    #[test]
    fn riscv_jump_tables() {
        let text = "
80000000 <main>:
80000000:      \taddi\tsp, sp, -0x10
80000002:      \tslli\ta1, a1, 0x2
80000004:      \tlui\ta2, 0x80010
80000008:      \taddi\ta2, a2, 0x110
8000000c:      \tadd\ta1, a1, a2
8000000e:      \tlw\ta1, 0x0(a1)
80000010:      \tjr\ta1
80000012:      \tret

80000100 <other>:
80000100:      \tret
";
        let table = |entry: u32| Image {
            sections: vec![(0x8001_0110, entry.to_le_bytes().to_vec())],
            ..Image::default()
        };
        let g = parse(text, Isa::RiscV, &table(0x8000_0012));
        let main = g.find("main").unwrap();
        assert_eq!(g.bound(main, main).unwrap().bytes, 16);
        let g = parse(text, Isa::RiscV, &table(0x8000_4000));
        assert!(g.bound(main, main).is_err());
        let g = parse(text, Isa::RiscV, &Image::default());
        assert!(g.bound(main, main).is_err());
        // The linker's `mv a2, a2` (a zero low part) keeps the table's base.
        let text = text.replace("\taddi\ta2, a2, 0x110", "\tmv\ta2, a2");
        let at_base = Image {
            sections: vec![(0x8001_0000, 0x8000_0012u32.to_le_bytes().to_vec())],
            ..Image::default()
        };
        let g = parse(&text, Isa::RiscV, &at_base);
        assert_eq!(g.bound(main, main).unwrap().bytes, 16);
    }

    /// RV32: a far call as `auipc ra; addi ra, ra, N; jalr ra <callee>`
    /// (objdump's note after the register) is a call of the callee.
    #[test]
    fn riscv_call_through_ra() {
        let text = RISCV.replace(
            "80000006:      \tjalr\t0x1e(ra) <work>",
            "80000004:      \taddi\tra, ra, 0x1e\n80000006:      \tjalr\tra <work>",
        );
        assert_ne!(text, RISCV);
        let b = bound_of(&text, Isa::RiscV, "main", "work").unwrap();
        assert_eq!(b.bytes, 16 + 4096 + 32);
    }

    #[test]
    fn register_lists() {
        assert_eq!(register_list("{r4, r5, r6, r7, lr}"), Some(20));
        assert_eq!(register_list("{d8-d11}"), Some(32));
        assert_eq!(register_list("{s16, s17}"), Some(8));
        assert_eq!(register_list("r4"), None);
    }
}
