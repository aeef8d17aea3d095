//! Stack overflow in a coroutine: abort with std's message.
//!
//! `may`'s generator catches a hit on a coroutine's guard page and abandons
//! the coroutine without running its destructors, so locks it held stay
//! held. std instead prints `thread '…' has overflowed its stack` and aborts.
//! We install our SIGSEGV/SIGBUS handler on top of the generator's: a fault
//! within reach of the stack pointer of a running coroutine is an overflow
//! and aborts; any other fault goes to std's original handler (which reports
//! a main-thread overflow and otherwise lets the signal kill the process).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::start::Observer;

static CAPTURED: AtomicBool = AtomicBool::new(false);
static mut STD_SEGV: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static mut STD_BUS: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();

/// Faults this close to the stack pointer are stack overflows (stack probes
/// touch the page just below it; a call writes the word below it).
const REACH: usize = 64 * 1024;

/// How the start-up starts the stack-overflow reporter.
pub(crate) const OBSERVER: Observer = Observer {
    before: capture_std_handlers,
    after: |_, _| {
        install();
        Ok(())
    },
};

/// Records std's handlers, before `may`'s generator installs its own.
fn capture_std_handlers() {
    // SAFETY: called once, by the start-up (`start::run`, inside
    // `config::start`'s `OnceLock` initialiser), before any handler of ours
    // runs; sigaction only writes the current action into our statics.
    unsafe {
        libc::sigaction(libc::SIGSEGV, std::ptr::null(), (&raw mut STD_SEGV).cast());
        libc::sigaction(libc::SIGBUS, std::ptr::null(), (&raw mut STD_BUS).cast());
    }
    CAPTURED.store(true, Ordering::Release);
}

/// Installs our handler on top of whatever is there (the generator's).
fn install() {
    // SAFETY: a zeroed sigaction is valid; we fill the handler, flags and
    // an empty mask before installing it.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the slice is valid.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t and ucontext_t to an
    // SA_SIGINFO handler.
    let (addr, sp) = unsafe { ((*info).si_addr() as usize, crate::sys::stack_pointer(ctx)) };
    let overflow = sp.is_some_and(|sp| addr.abs_diff(sp) < REACH) && may::coroutine::is_coroutine();
    if overflow {
        // Reading the coroutine's name clones an Arc (atomics only).
        let co = may::coroutine::current();
        write_stderr(b"\nthread '");
        write_stderr(co.name().unwrap_or("<unnamed>").as_bytes());
        write_stderr(
            b"' has overflowed its stack\nfatal runtime error: stack overflow, aborting\n",
        );
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    // Not ours: restore std's handler and return; the faulting instruction
    // runs again and the signal goes to it.
    if CAPTURED.load(Ordering::Acquire) {
        // SAFETY: the statics were filled by `capture_std_handlers` before
        // this handler was installed and are never written again.
        unsafe {
            let old = if sig == libc::SIGBUS {
                (&raw const STD_BUS).cast::<libc::sigaction>()
            } else {
                (&raw const STD_SEGV).cast::<libc::sigaction>()
            };
            libc::sigaction(sig, old, std::ptr::null_mut());
        }
    } else {
        // SAFETY: resetting to the default action is always valid.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}
