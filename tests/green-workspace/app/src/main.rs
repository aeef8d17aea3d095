//! Uses both minreq versions and the path dependency (never run: checked).
fn main() {
    let _new = minreq::get("http://127.0.0.1:1/");
    let _old = old_minreq::get("http://127.0.0.1:1/");
    util::nap();
}
