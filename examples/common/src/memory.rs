//! Flash and RAM use, read from the linker's symbols at run time.

/// Where the image and the statics end.
pub struct Usage {
    /// Bytes of the flash image: code, read-only data and the initial values of `.data`.
    pub flash_image: usize,
    /// Bytes of RAM taken by statics (`.data`, `.bss`, `.uninit`), the arena included.
    pub ram_static: usize,
    /// Bytes of RAM from its origin to the initial stack pointer.
    pub ram_size: usize,
}

// Defined by cortex-m-rt's and riscv-rt's `link.x` (same names in both), and
// by each example's `memory.x` (`__attonet_*`). Only their addresses are used.
extern "C" {
    static __sidata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __sheap: u8;
    static _stack_start: u8;
    static __attonet_flash_origin: u8;
    static __attonet_ram_origin: u8;
}

/// Address of the first byte after the statics (the stack may grow down to it).
pub fn static_end() -> usize {
    (&raw const __sheap) as usize
}

/// The initial stack pointer (the stack grows down from it).
pub fn stack_top() -> usize {
    (&raw const _stack_start) as usize
}

impl Usage {
    /// Reads the linker symbols.
    pub fn now() -> Usage {
        let data_len = (&raw const __edata) as usize - (&raw const __sdata) as usize;
        let flash_end = (&raw const __sidata) as usize + data_len;
        let flash_origin = (&raw const __attonet_flash_origin) as usize;
        let ram_origin = (&raw const __attonet_ram_origin) as usize;
        Usage {
            flash_image: flash_end - flash_origin,
            ram_static: static_end() - (&raw const __sdata) as usize,
            ram_size: stack_top() - ram_origin,
        }
    }
}
