//! `patch_all!`: the `monkey.patch_all()` of greenstd.
//!
//! This crate is re-exported as [`greenstd::patch_all`]; use it from there.
//! See the macro's documentation for what it rewrites and why it cannot
//! patch a whole crate by itself.
//!
//! [`greenstd::patch_all`]: https://docs.rs/greenstd/latest/greenstd/macro.patch_all.html

#![warn(missing_docs)]

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// The crate every cooperative path is redirected to.
const TARGET: &str = "greenstd";

mod replaced;

/// `true` when `path` (the segments below `std`) is, or is inside, a module
/// or macro that greenstd replaces (see [`replaced`]).
fn is_replaced(path: &[String]) -> bool {
    replaced::MODULES
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(module, _)| *module)
        .chain(replaced::MACROS.iter().copied())
        .any(|module| {
            let m: Vec<&str> = module.split("::").collect();
            path.len() >= m.len() && path.iter().zip(&m).all(|(a, b)| a == b)
        })
}

/// The three ways that do work, quoted by every misuse error.
const FORMS: &str = "To patch a whole crate, use one of
  * `extern crate greenstd as std;` as one line at the crate root (src/main.rs or src/lib.rs), or
  * `std = { package = \"greenstd\", version = \"…\" }` under [dependencies] in Cargo.toml \
(`path = …` for a local checkout), with no source change;
or wrap the code to patch, e.g.
  greenstd::patch_all! {
      use std::net::{TcpListener, TcpStream};
      use std::thread;
  }";

/// Rewrites the `std` paths of the code it wraps so that the cooperative
/// modules come from greenstd — the `monkey.patch_all()` of Rust.
///
/// Wrap existing `use std::…` lines, or whole items and modules. Every path
/// into a cooperative module of `std` is redirected to `::greenstd`:
///
/// | `std` path | becomes |
/// |---|---|
/// | `std::net`, `std::os::unix::net` | greenstd's sockets, which yield instead of block |
/// | `std::thread` (and `thread_local!`), `std::os::unix::thread` | coroutines; cooperative `sleep`, `park`, `join`, `scope` |
/// | `std::sync` | locks, condition variables and channels that park the coroutine |
/// | `std::process` | `Command`, `Child` and its pipes: spawning, waiting and pipe I/O suspend the coroutine |
/// | `std::io` | `stdin`, `stdout`, `stderr`, `pipe` cooperative; the traits and the rest std's |
/// | `std::fs`, `std::os::unix::fs` | `File` and every free function on greenstd's offload pool |
/// | `print!`, `println!`, `eprint!`, `eprintln!` | a full stdout/stderr pipe suspends the coroutine |
/// | `std::prelude` | std's prelude with greenstd's `print!` family and `thread_local!` |
///
/// `::std::…` paths are rewritten too, and grouped imports are split so that
/// only their cooperative parts move: `use std::{net::TcpStream,
/// collections::HashMap};` becomes `use ::greenstd::net::TcpStream; use
/// std::collections::HashMap;`. Importing a
/// parent module (`use std::os::unix;`, `use std::os::*;`) takes greenstd's,
/// whose cooperative children replace std's. A bare `thread_local!`,
/// `print!`, `println!`, `eprint!` or `eprintln!` inside the macro becomes
/// greenstd's. Every other path — `std::collections`, `std::env`,
/// `std::time`, `vec!`, `format!`, derives — stays std's.
///
/// The crate using the macro must depend on `greenstd` under that name.
///
/// # Why it cannot patch a whole crate
///
/// Rust resolves `std` before macros expand, and rustc rejects a
/// macro-expanded `extern crate … as std` or `use … as std` (E0659, "`std`
/// is ambiguous"). So `patch_all!` only rewrites what it wraps. For a whole
/// crate — every module, every fully qualified `std::thread::spawn(…)` —
/// use one of the crate-wide forms instead:
///
/// * `extern crate greenstd as std;` as one line at the crate root;
/// * `std = { package = "greenstd", version = "…" }` under `[dependencies]`
///   in Cargo.toml, with no source change at all.
///
/// # Examples
///
/// Wrapping the imports of an existing blocking program:
///
/// ```
/// greenstd::patch_all! {
///     use std::net::{TcpListener, TcpStream};
///     use std::io::{Read, Write};
///     use std::thread;
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = thread::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf.to_ascii_uppercase()).unwrap();
/// });
/// let mut client = TcpStream::connect(addr).unwrap();
/// client.write_all(b"hello").unwrap();
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply).unwrap();
/// assert_eq!(&reply, b"HELLO");
/// server.join().unwrap();
/// ```
///
/// Wrapping whole items: fully qualified paths inside them are rewritten too.
///
/// ```
/// greenstd::patch_all! {
///     fn in_a_thread() -> bool {
///         std::thread::spawn(greenstd::green::in_coroutine).join().unwrap()
///     }
/// }
///
/// assert!(in_a_thread());
/// ```
///
/// # Errors
///
/// Misuse is a compile error that names the fix:
///
/// * an empty `patch_all!()` — at the crate root or anywhere else — cannot
///   patch the crate: the error names the two crate-wide forms;
/// * input with no `std` path in it (e.g. gevent-style options such as
///   `patch_all!(thread = false)`) patches nothing;
/// * `extern crate … as std`, `use … as std`, `mod std` or `use std;` inside
///   the macro, which rustc rejects or which cannot be redirected.
///
/// ```compile_fail
/// greenstd::patch_all!();
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// greenstd::patch_all! { extern crate greenstd as std; }
/// # fn main() {}
/// ```
#[proc_macro]
pub fn patch_all(input: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    if tokens.is_empty() {
        return compile_error(
            Span::call_site(),
            &format!(
                "`patch_all!()` with nothing inside patches nothing, and no macro can replace `std` \
                 for a whole crate: rustc rejects a macro-expanded `extern crate … as std` (E0659).\n{FORMS}"
            ),
        );
    }
    let mut patcher = Patcher::default();
    let output = patcher.rewrite(&tokens);
    let mut result = TokenStream::new();
    for error in &patcher.errors {
        result.extend(compile_error(error.0, &error.1));
    }
    if patcher.errors.is_empty() && !patcher.found_std {
        // The input may not even be Rust (gevent-style options): report
        // only the error.
        return compile_error(
            tokens[0].span(),
            &format!(
                "`patch_all!` found no `std` path to patch in its input: it rewrites the `std::…` \
                 paths of the code it wraps (`use std::net::TcpStream;`, \
                 `std::thread::spawn(…)`, `thread_local!`) and takes no options (gevent's \
                 `patch_all(thread=False)` has no equivalent: leave a `use` line outside the \
                 macro to keep it std's).\n{FORMS}"
            ),
        );
    }
    result.extend(output);
    result
}

/// The rewriting state: whether any `std` path was seen, and misuse found.
#[derive(Default)]
struct Patcher {
    found_std: bool,
    errors: Vec<(Span, String)>,
}

impl Patcher {
    /// Rewrites one level of tokens, recursing into groups.
    fn rewrite(&mut self, tokens: &[TokenTree]) -> TokenStream {
        let mut out: Vec<TokenTree> = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    let mut rebuilt = Group::new(group.delimiter(), self.rewrite(&inner));
                    rebuilt.set_span(group.span());
                    out.push(TokenTree::Group(rebuilt));
                    i += 1;
                }
                TokenTree::Ident(ident) => {
                    let name = ident.to_string();
                    if name == "use" && !is_punct(tokens.get(i + 1), '<') {
                        if let Some(end) = find_semicolon(tokens, i + 1) {
                            self.rewrite_use(&mut out, tokens, i, end);
                            i = end + 1;
                            continue;
                        }
                    }
                    if name == "extern" && is_ident(tokens.get(i + 1), "crate") {
                        if let Some(end) = find_semicolon(tokens, i + 1) {
                            if tokens[i + 2..end].iter().any(|t| is_ident(Some(t), "std")) {
                                self.errors.push((
                                    ident.span(),
                                    format!(
                                        "`extern crate … std` cannot go inside `patch_all!`: rustc \
                                         rejects a macro-expanded `extern crate` that shadows `std` \
                                         (E0659). Write `extern crate greenstd as std;` at the crate \
                                         root, outside any macro.\n{FORMS}"
                                    ),
                                ));
                                i = end + 1;
                                continue;
                            }
                        }
                    }
                    if name == "mod" && is_ident(tokens.get(i + 1), "std") {
                        self.errors.push((
                            tokens[i + 1].span(),
                            format!(
                                "a `mod std` inside `patch_all!` cannot shadow `std`: rustc rejects \
                                 macro-expanded names that shadow it (E0659).\n{FORMS}"
                            ),
                        ));
                        // Leave the module out.
                        i += 2;
                        if is_punct(tokens.get(i), ';')
                            || matches!(tokens.get(i), Some(TokenTree::Group(_)))
                        {
                            i += 1;
                        }
                        continue;
                    }
                    if name == "std" && is_root(tokens, i) && is_path_sep(tokens, i + 1) {
                        self.found_std = true;
                        if is_cooperative_expr_path(tokens, i) {
                            if i >= 2 && is_path_sep(tokens, i - 2) {
                                // Drop the leading `::` already emitted.
                                out.truncate(out.len() - 2);
                            }
                            push_target_root(&mut out, ident.span());
                            i += 1;
                            continue;
                        }
                    }
                    if replaced::MACROS.contains(&name.as_str())
                        && is_punct(tokens.get(i + 1), '!')
                        && is_bare(tokens, i)
                    {
                        self.found_std = true;
                        push_target_root(&mut out, ident.span());
                        push_path_sep(&mut out, ident.span());
                        out.push(TokenTree::Ident(ident.clone()));
                        i += 1;
                        continue;
                    }
                    out.push(tokens[i].clone());
                    i += 1;
                }
                other => {
                    out.push(other.clone());
                    i += 1;
                }
            }
        }
        out.into_iter().collect()
    }

    /// Rewrites the `use` declaration `tokens[start..=end]` (`use` … `;`).
    fn rewrite_use(
        &mut self,
        out: &mut Vec<TokenTree>,
        tokens: &[TokenTree],
        start: usize,
        end: usize,
    ) {
        let keyword = tokens[start].clone();
        let semicolon = tokens[end].clone();
        let tree = &tokens[start + 1..end];
        let Some(imports) = parse_use_tree(tree) else {
            // Not a tree we understand (e.g. `use $path;` in a macro body):
            // rewrite its paths token by token.
            out.push(keyword);
            out.extend(self.rewrite(tree));
            out.push(semicolon);
            return;
        };
        let mut split = false;
        let mut classified = Vec::with_capacity(imports.len());
        for import in imports {
            let Some(from_std) = self.check_import(&import) else {
                // Reported: leave it out.
                split = true;
                continue;
            };
            let cooperative = from_std && import.is_cooperative();
            split |= cooperative;
            classified.push((import, cooperative));
        }
        if !split {
            out.push(keyword);
            out.extend(tree.iter().cloned());
            out.push(semicolon);
            return;
        }
        // Split: one `use` per import, each with the item's attributes and
        // visibility.
        let prefix = take_item_prefix(out);
        for (import, cooperative) in classified {
            out.extend(prefix.iter().cloned());
            out.push(keyword.clone());
            import.emit(out, cooperative);
            out.push(semicolon.clone());
        }
    }

    /// Checks one import: `Some(true)` if it is rooted at `std`, `Some(false)`
    /// if not, `None` (reported) if it cannot be redirected: `use std;` or
    /// `use … as std`.
    fn check_import(&mut self, import: &Import) -> Option<bool> {
        let from_std = import.path[0].to_string() == "std";
        self.found_std |= from_std;
        let alias_is_std = import
            .alias
            .as_ref()
            .is_some_and(|a| a.to_string() == "std");
        let whole_std = from_std
            && import.path.len() == 1
            && import.alias.is_none()
            && !matches!(import.leaf, Leaf::Glob(_));
        if alias_is_std || whole_std {
            let span = import.alias.as_ref().unwrap_or(&import.path[0]).span();
            self.errors.push((
                span,
                format!(
                    "`patch_all!` cannot import `std` itself (`use std;`) nor shadow it \
                     (`use … as std`): rustc rejects a macro-expanded name that shadows `std` \
                     (E0659). Import the modules you use (`use std::{{net, thread}};`), or \
                     write `use greenstd as std;` outside the macro (that module only, not its \
                     submodules).\n{FORMS}"
                ),
            ));
            return None;
        }
        Some(from_std)
    }
}

/// What a flattened import ends in.
enum Leaf {
    /// `a::b::name` (the name is the last path segment).
    Name,
    /// `a::b::{self}`.
    SelfImport(Ident),
    /// `a::b::*`.
    Glob(Punct),
}

/// One flattened import of a `use` tree: `[::]path[::{self}|::*] [as alias]`.
struct Import {
    leading: Option<(Punct, Punct)>,
    path: Vec<Ident>,
    leaf: Leaf,
    alias: Option<Ident>,
}

impl Import {
    /// `true` when this import, rooted at `std`, must come from greenstd.
    fn is_cooperative(&self) -> bool {
        let rest: Vec<String> = self.path[1..].iter().map(Ident::to_string).collect();
        // A parent of a cooperative module, imported as a module or globbed.
        is_replaced(&rest) || replaced::is_parent(&rest)
    }

    /// Emits the import's path (after `use`), from greenstd when
    /// `cooperative`, else exactly as written.
    fn emit(&self, out: &mut Vec<TokenTree>, cooperative: bool) {
        let mut segments = self.path.iter();
        if cooperative {
            let std = segments.next().expect("a std import has a root");
            push_target_root(out, std.span());
        } else {
            if let Some((a, b)) = &self.leading {
                out.push(TokenTree::Punct(a.clone()));
                out.push(TokenTree::Punct(b.clone()));
            }
            let first = segments.next().expect("an import has a root");
            out.push(TokenTree::Ident(first.clone()));
        }
        for segment in segments {
            push_path_sep(out, segment.span());
            out.push(TokenTree::Ident(segment.clone()));
        }
        match &self.leaf {
            Leaf::Name => push_alias(out, self.alias.as_ref()),
            Leaf::Glob(star) => {
                push_path_sep(out, star.span());
                out.push(TokenTree::Punct(star.clone()));
            }
            Leaf::SelfImport(this) => {
                push_path_sep(out, this.span());
                let mut braced = vec![TokenTree::Ident(this.clone())];
                push_alias(&mut braced, self.alias.as_ref());
                let mut group = Group::new(Delimiter::Brace, braced.into_iter().collect());
                group.set_span(this.span());
                out.push(TokenTree::Group(group));
            }
        }
    }
}

/// Pushes `as alias` if there is an alias.
fn push_alias(out: &mut Vec<TokenTree>, alias: Option<&Ident>) {
    if let Some(alias) = alias {
        out.push(TokenTree::Ident(Ident::new("as", alias.span())));
        out.push(TokenTree::Ident(alias.clone()));
    }
}

/// Parses a `use` tree (the tokens between `use` and `;`) into flattened
/// imports, or `None` if it is not one.
fn parse_use_tree(tokens: &[TokenTree]) -> Option<Vec<Import>> {
    let mut imports = Vec::new();
    let mut leading = None;
    let mut rest = tokens;
    if is_path_sep(rest, 0) {
        if let (TokenTree::Punct(a), TokenTree::Punct(b)) = (&rest[0], &rest[1]) {
            leading = Some((a.clone(), b.clone()));
        }
        rest = &rest[2..];
    }
    parse_subtree(rest, leading, &mut Vec::new(), &mut imports)?;
    Some(imports)
}

/// Parses `tokens` as a use subtree below `prefix`, pushing its imports.
fn parse_subtree(
    tokens: &[TokenTree],
    leading: Option<(Punct, Punct)>,
    prefix: &mut Vec<Ident>,
    imports: &mut Vec<Import>,
) -> Option<()> {
    let depth = prefix.len();
    let mut i = 0;
    let result = loop {
        match tokens.get(i)? {
            TokenTree::Ident(ident)
                if ident.to_string() == "self"
                    && !prefix.is_empty()
                    && !is_path_sep(tokens, i + 1) =>
            {
                // `{self}` or `{self as x}` inside a group.
                let alias = parse_alias(&tokens[i + 1..])?;
                imports.push(Import {
                    leading: leading.clone(),
                    path: prefix.clone(),
                    leaf: Leaf::SelfImport(ident.clone()),
                    alias,
                });
                break Some(());
            }
            TokenTree::Ident(ident) => {
                prefix.push(ident.clone());
                if is_path_sep(tokens, i + 1) {
                    i += 3;
                    continue;
                }
                let alias = parse_alias(&tokens[i + 1..])?;
                imports.push(Import {
                    leading: leading.clone(),
                    path: prefix.clone(),
                    leaf: Leaf::Name,
                    alias,
                });
                break Some(());
            }
            TokenTree::Punct(star)
                if star.as_char() == '*' && i + 1 == tokens.len() && !prefix.is_empty() =>
            {
                imports.push(Import {
                    leading: leading.clone(),
                    path: prefix.clone(),
                    leaf: Leaf::Glob(star.clone()),
                    alias: None,
                });
                break Some(());
            }
            TokenTree::Group(group)
                if group.delimiter() == Delimiter::Brace && i + 1 == tokens.len() =>
            {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                for part in inner.split(|t| is_punct(Some(t), ',')) {
                    if part.is_empty() {
                        continue;
                    }
                    parse_subtree(part, leading.clone(), prefix, imports)?;
                }
                break Some(());
            }
            _ => break None,
        }
    };
    prefix.truncate(depth);
    result
}

/// Parses what follows an import's last segment: nothing, or `as name`.
fn parse_alias(tokens: &[TokenTree]) -> Option<Option<Ident>> {
    match tokens {
        [] => Some(None),
        [TokenTree::Ident(kw), TokenTree::Ident(alias)] if kw.to_string() == "as" => {
            Some(Some(alias.clone()))
        }
        _ => None,
    }
}

/// Removes and returns the attributes and visibility that precede an item
/// whose keyword is about to be emitted after `out`.
fn take_item_prefix(out: &mut Vec<TokenTree>) -> Vec<TokenTree> {
    let mut start = out.len();
    // Visibility: `pub` or `pub(…)`.
    if start >= 2
        && is_group(&out[start - 1], Delimiter::Parenthesis)
        && is_ident(Some(&out[start - 2]), "pub")
    {
        start -= 2;
    } else if start >= 1 && is_ident(Some(&out[start - 1]), "pub") {
        start -= 1;
    }
    // Outer attributes: `#[…]`.
    while start >= 2
        && is_group(&out[start - 1], Delimiter::Bracket)
        && is_punct(Some(&out[start - 2]), '#')
    {
        start -= 2;
    }
    out.split_off(start)
}

/// Pushes `::greenstd` with `span`.
fn push_target_root(out: &mut Vec<TokenTree>, span: Span) {
    push_path_sep(out, span);
    out.push(TokenTree::Ident(Ident::new(TARGET, span)));
}

/// Pushes `::` with `span`.
fn push_path_sep(out: &mut Vec<TokenTree>, span: Span) {
    let mut first = Punct::new(':', Spacing::Joint);
    first.set_span(span);
    let mut second = Punct::new(':', Spacing::Alone);
    second.set_span(span);
    out.push(TokenTree::Punct(first));
    out.push(TokenTree::Punct(second));
}

/// `true` when `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    match (tokens.get(i), tokens.get(i.wrapping_add(1))) {
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) => {
            a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
        }
        _ => false,
    }
}

/// `true` when the `std` at `tokens[i]` starts a path (it is not a segment
/// of a longer path, a field or a macro variable).
fn is_root(tokens: &[TokenTree], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    if is_punct(tokens.get(i - 1), '.') || is_punct(tokens.get(i - 1), '$') {
        return false;
    }
    if i >= 2 && is_path_sep(tokens, i - 2) {
        // `::std`: a leading `::`, unless it follows a path segment or `>`.
        return match i.checked_sub(3).map(|j| &tokens[j]) {
            None => true,
            Some(TokenTree::Ident(prev)) => {
                KEYWORDS_BEFORE_PATH.contains(&prev.to_string().as_str())
            }
            Some(TokenTree::Punct(prev)) => prev.as_char() != '>',
            Some(_) => true,
        };
    }
    true
}

/// `true` when `tokens[i]` is not preceded by `::`, `.` or `$`.
fn is_bare(tokens: &[TokenTree], i: usize) -> bool {
    i == 0
        || !(is_punct(tokens.get(i - 1), '.')
            || is_punct(tokens.get(i - 1), '$')
            || (i >= 2 && is_path_sep(tokens, i - 2)))
}

/// Keywords after which a `::std` path is still a root path.
const KEYWORDS_BEFORE_PATH: &[&str] = &[
    "as", "break", "const", "dyn", "else", "for", "if", "impl", "in", "let", "match", "move",
    "mut", "ref", "return", "static", "type", "where", "while", "yield",
];

/// `true` when the root `std` at `tokens[i]` starts a path into a
/// cooperative module (`std::net…`, `std::os::unix::net…`).
fn is_cooperative_expr_path(tokens: &[TokenTree], i: usize) -> bool {
    let mut segments = Vec::new();
    let mut j = i + 1;
    while is_path_sep(tokens, j) && segments.len() < 3 {
        match tokens.get(j + 2) {
            Some(TokenTree::Ident(segment)) => segments.push(segment.to_string()),
            _ => break,
        }
        j += 3;
    }
    is_replaced(&segments)
}

/// Index of the first `;` at this level from `from`.
fn find_semicolon(tokens: &[TokenTree], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&j| is_punct(tokens.get(j), ';'))
}

/// `true` when `token` is the punctuation `c`.
fn is_punct(token: Option<&TokenTree>, c: char) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// `true` when `token` is the identifier `name`.
fn is_ident(token: Option<&TokenTree>, name: &str) -> bool {
    matches!(token, Some(TokenTree::Ident(i)) if i.to_string() == name)
}

/// `true` when `token` is a group delimited by `delimiter`.
fn is_group(token: &TokenTree, delimiter: Delimiter) -> bool {
    matches!(token, TokenTree::Group(g) if g.delimiter() == delimiter)
}

/// `compile_error!{ "message" }` pointing at `span`.
fn compile_error(span: Span, message: &str) -> TokenStream {
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut body = Group::new(
        Delimiter::Brace,
        TokenStream::from(TokenTree::Literal(literal)),
    );
    body.set_span(span);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(body),
    ]
    .into_iter()
    .collect()
}
