//! Lays out a value's compact `Debug` text (`Name { field: value, .. }`,
//! `Variant(..)`, `[..]`) as readable Rust: each struct on one line when it
//! fits in the width, else one field per line, recursively.

/// A parsed `Debug` value.
#[derive(Debug, PartialEq)]
enum Node {
    /// A literal or path: `3`, `-128`, `1.0`, `true`, `"name"`.
    Atom(String),
    /// `Name { a: x, b: y }`.
    Struct(String, Vec<(String, Node)>),
    /// `Name(x, y)`.
    Tuple(String, Vec<Node>),
    /// `[x, y]`.
    List(Vec<Node>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'"') {
            self.i += 1;
            while self.i < self.s.len() && self.s[self.i] != b'"' {
                if self.s[self.i] == b'\\' {
                    self.i += 1;
                }
                self.i += 1;
            }
            self.i = (self.i + 1).min(self.s.len());
        } else {
            while self.i < self.s.len() && !b" ,:(){}[]".contains(&self.s[self.i]) {
                self.i += 1;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn node(&mut self) -> Option<Node> {
        if self.eat(b'[') {
            let mut items = Vec::new();
            while !self.eat(b']') {
                items.push(self.node()?);
                self.eat(b',');
            }
            return Some(Node::List(items));
        }
        let name = self.word();
        if name.is_empty() {
            return None;
        }
        if self.eat(b'{') {
            let mut fields = Vec::new();
            while !self.eat(b'}') {
                let key = self.word();
                if key.is_empty() || !self.eat(b':') {
                    return None;
                }
                fields.push((key, self.node()?));
                self.eat(b',');
            }
            Some(Node::Struct(name, fields))
        } else if self.eat(b'(') {
            let mut items = Vec::new();
            while !self.eat(b')') {
                items.push(self.node()?);
                self.eat(b',');
            }
            Some(Node::Tuple(name, items))
        } else {
            Some(Node::Atom(name))
        }
    }
}

fn flat(n: &Node) -> String {
    match n {
        Node::Atom(a) => a.clone(),
        Node::Struct(name, fields) => format!(
            "{name} {{ {} }}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", flat(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Node::Tuple(name, items) => format!(
            "{name}({})",
            items.iter().map(flat).collect::<Vec<_>>().join(", ")
        ),
        Node::List(items) => format!(
            "[{}]",
            items.iter().map(flat).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn layout(n: &Node, indent: usize, prefix_len: usize, width: usize, out: &mut String) {
    let one_line = flat(n);
    if indent + prefix_len + one_line.len() <= width || matches!(n, Node::Atom(_)) {
        out.push_str(&one_line);
        return;
    }
    let pad = " ".repeat(indent + 4);
    match n {
        Node::Atom(_) => {}
        Node::Struct(name, fields) => {
            out.push_str(name);
            out.push_str(" {\n");
            for (k, v) in fields {
                out.push_str(&pad);
                out.push_str(k);
                out.push_str(": ");
                layout(v, indent + 4, k.len() + 3, width, out);
                out.push_str(",\n");
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
        Node::Tuple(name, items) if items.len() == 1 => {
            // `Variant(Struct { .. })` keeps the struct on the variant's line.
            out.push_str(name);
            out.push('(');
            layout(&items[0], indent, prefix_len + name.len() + 1, width, out);
            out.push(')');
        }
        Node::Tuple(name, items) => {
            out.push_str(name);
            out.push_str("(\n");
            for v in items {
                out.push_str(&pad);
                layout(v, indent + 4, 0, width, out);
                out.push_str(",\n");
            }
            out.push_str(&" ".repeat(indent));
            out.push(')');
        }
        Node::List(items) => {
            out.push_str("[\n");
            for v in items {
                out.push_str(&pad);
                layout(v, indent + 4, 0, width, out);
                out.push_str(",\n");
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
    }
}

/// Re-lays `debug` (a value's `{:?}` text) for code at `indent` spaces,
/// within `width` columns. Returns the text unchanged if it does not parse.
pub fn reflow(debug: &str, indent: usize, width: usize) -> String {
    let mut p = Parser {
        s: debug.as_bytes(),
        i: 0,
    };
    match p.node() {
        Some(node) if p.i == debug.len() => {
            let mut out = String::new();
            layout(&node, indent, 0, width, &mut out);
            out
        }
        _ => debug.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_on_one_line() {
        assert_eq!(
            reflow(
                "Slot { offset: 0, shape: Shape { h: 1, w: 1, c: 10 } }",
                0,
                100
            ),
            "Slot { offset: 0, shape: Shape { h: 1, w: 1, c: 10 } }"
        );
    }

    #[test]
    fn long_values_break_field_by_field() {
        let text = "Conv(ConvStep { params: P { a: 1, b: -2 }, input: Slot { offset: 16384, shape: S { h: 32 } }, name: \"x, y\" })";
        let out = reflow(text, 0, 40);
        assert_eq!(
            out,
            "Conv(ConvStep {\n    params: P { a: 1, b: -2 },\n    input: Slot {\n        offset: 16384,\n        shape: S { h: 32 },\n    },\n    name: \"x, y\",\n})"
        );
    }

    #[test]
    fn unparsable_text_is_returned_as_is() {
        assert_eq!(reflow("Foo { a 1 }", 0, 10), "Foo { a 1 }");
    }
}
