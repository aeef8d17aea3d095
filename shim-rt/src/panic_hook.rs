//! Panic messages of coroutines, in std's words.
//!
//! std's default hook names the OS thread (a `may` worker), not the
//! coroutine. Ours prints what std prints for a thread, with the coroutine's
//! name and id, and hands panics outside coroutines to the previous hook.

use std::io::Write;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::start::Observer;
use crate::task;

/// How the start-up installs the hook.
pub(crate) const OBSERVER: Observer = Observer::after(|_, _| {
    install();
    Ok(())
});

fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_stack_allocation_failure(info) {
            // Caught by `task::spawn` and returned as an `OutOfMemory` error.
            return;
        }
        if info.payload().is::<crate::cancel::Cancelled>() {
            // A cancellation is not a failure: greenstd delivers it with
            // `resume_unwind` (no hook at all); one raised by hand with
            // `panic_any(Cancelled)` is as quiet.
            return;
        }
        match task::current_coroutine_task() {
            Some(t) => report(t.name().unwrap_or("<unnamed>"), t.id().get(), info),
            None => previous(info),
        }
    }));
}

/// may's generator panics (instead of returning an error) when it cannot
/// map a stack; greenstd turns that panic into an error, so it is not news.
fn is_stack_allocation_failure(info: &PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|l| l.file().contains("generator"))
        && payload_text(info).starts_with("failed to alloc sys stack")
}

fn payload_text<'a>(info: &'a PanicHookInfo<'_>) -> &'a str {
    if let Some(s) = info.payload().downcast_ref::<&str>() {
        s
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

fn report(name: &str, id: u64, info: &PanicHookInfo<'_>) {
    static FIRST_NOTE: AtomicBool = AtomicBool::new(true);
    let mut msg = String::new();
    msg.push_str(&format!("thread '{name}' ({id}) panicked at "));
    match info.location() {
        Some(l) => msg.push_str(&format!("{}:{}:{}", l.file(), l.line(), l.column())),
        None => msg.push_str("<unknown>"),
    }
    msg.push_str(":\n");
    msg.push_str(payload_text(info));
    msg.push('\n');
    match std::env::var("RUST_BACKTRACE").as_deref() {
        Ok("0") | Err(_) => {
            if FIRST_NOTE.swap(false, Ordering::Relaxed) {
                msg.push_str(
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                );
            }
        }
        Ok(_) => {
            msg.push_str(&format!(
                "stack backtrace:\n{}\n",
                std::backtrace::Backtrace::force_capture()
            ));
        }
    }
    let _ = std::io::stderr().lock().write_all(msg.as_bytes());
}
