//! Names std's IsTerminal as a user crate does: no unused-import warning
//! (denied) and the same answer as the crates that name it.
#![deny(warnings)]

use std::io::IsTerminal;

fn main() {
    let t = std::io::stdout().is_terminal();
    let m = clap_builder::Command::new("green-clap")
        .arg(clap_builder::Arg::new("word"))
        .get_matches_from(["green-clap", "hello"]);
    let word = m.get_one::<String>("word").cloned().unwrap_or_default();
    let dir = normpath::PathExt::normalize(std::path::Path::new(".")).is_ok();
    anstream::println!(
        "word={word} terminal={t} polyfill={} normalized={dir}",
        is_terminal_polyfill::IsTerminal::is_terminal(&std::io::stdout())
    );
}
