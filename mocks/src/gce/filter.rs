//! The `filter` query parameter of Compute Engine `list` methods, evaluated against the JSON
//! resource the mock would return. Two forms, as the Compute API reference describes them
//! (`routes.list`, parameter `filter`):
//!
//! - **regular expressions**: `field eq literal` / `field ne literal`, either one unparenthesized
//!   expression or several parenthesized ones AND-ed by juxtaposition, e.g.
//!   `(name eq "rp-demo-.*") (network eq ".*/global/networks/default")`. The literal (bare,
//!   `'single'` or `"double"` quoted) is an RE2 regular expression that must match the **entire**
//!   field value;
//! - **comparisons**: `field = value`, `!=`, `<`, `<=`, `>`, `>=`, `:` (has), combined with
//!   `AND`, `OR`, `NOT`/`-`, parentheses and implicit AND between terms. `=`/`!=`/`:` compare
//!   strings with `*` as a wildcard; the ordering operators compare numbers when both sides are
//!   numbers. `field:*` means the field is present.
//!
//! Mixing the two forms, `OR` between `eq`/`ne` expressions, and several `eq`/`ne` expressions
//! without parentheses are refused with 400 `invalid`, as GCE does not accept them. Field paths
//! use the resource's JSON names (`name`, `network`, `description`, `destRange`, `priority`,
//! `nextHopInstance`, `tags`, dotted paths into objects); a repeated field matches when any of
//! its elements does; a missing field matches only `ne`/`!=`/`NOT`.

use regex::Regex;
use serde_json::Value;

use super::error::ApiError;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Regex {
        field: String,
        re: Regex,
        negate: bool,
    },
    Compare {
        field: String,
        op: Op,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Op(&'static str),
    Word(String),
    Quoted(String),
}

impl Filter {
    /// Parses a filter; an empty one matches everything.
    ///
    /// # Errors
    /// 400 `invalid` naming the problem.
    pub fn parse(text: &str) -> Result<Option<Self>, ApiError> {
        let toks = tokenize(text)?;
        if toks.is_empty() {
            return Ok(None);
        }
        let mut p = Parser {
            toks,
            pos: 0,
            text,
            regex_terms: 0,
            compare_terms: 0,
            bare_regex_terms: 0,
            saw_or: false,
        };
        let expr = p.or()?;
        if p.pos != p.toks.len() {
            return Err(p.error("unexpected token"));
        }
        if p.regex_terms > 0 && p.compare_terms > 0 {
            return Err(p.error("eq/ne expressions cannot be mixed with comparison operators"));
        }
        if p.regex_terms > 0 && p.saw_or {
            return Err(p.error("eq/ne expressions can only be AND-ed"));
        }
        if p.bare_regex_terms > 0 && p.regex_terms > 1 {
            return Err(p.error("several eq/ne expressions must each be parenthesized"));
        }
        Ok(Some(Self { expr }))
    }

    /// Whether `resource` passes.
    pub fn matches(&self, resource: &Value) -> bool {
        eval(&self.expr, resource)
    }
}

fn eval(expr: &Expr, resource: &Value) -> bool {
    match expr {
        Expr::And(items) => items.iter().all(|e| eval(e, resource)),
        Expr::Or(items) => items.iter().any(|e| eval(e, resource)),
        Expr::Not(inner) => !eval(inner, resource),
        Expr::Regex { field, re, negate } => {
            let values = lookup(resource, field);
            let hit = values.iter().any(|v| re.is_match(v));
            hit != *negate
        }
        Expr::Compare { field, op, value } => {
            let values = lookup(resource, field);
            match op {
                Op::Ne => !values.iter().any(|v| glob(value, v)),
                Op::Eq => values.iter().any(|v| glob(value, v)),
                Op::Has => {
                    value == "*" && !values.is_empty() || values.iter().any(|v| glob(value, v))
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => values.iter().any(|v| order(*op, v, value)),
            }
        }
    }
}

/// The string forms of the field at a dotted `path`; arrays give one per element.
fn lookup(resource: &Value, path: &str) -> Vec<String> {
    let mut node = resource;
    for part in path.split('.') {
        match node.get(part) {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match node {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// String equality with `*` matching any run of characters.
fn glob(pattern: &str, value: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == value;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn order(op: Op, field: &str, value: &str) -> bool {
    let ord = match (field.parse::<f64>(), value.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(field.cmp(value)),
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
        _ => false,
    }
}

fn tokenize(text: &str) -> Result<Vec<Tok>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ApiError::invalid_filter(format!(
                                "Invalid list filter expression '{text}': unterminated quoted string"
                            )));
                        }
                        Some('\\') if chars.get(i + 1) == Some(&quote) => {
                            s.push(quote);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(s));
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                }));
                i += if eq { 2 } else { 1 };
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            ':' => {
                out.push(Tok::Op(":"));
                i += 1;
            }
            _ => {
                let start = i;
                while in_word(&chars, i) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

/// Whether `chars[i]` continues a bare word: not space, not a parenthesis, quote or operator.
fn in_word(chars: &[char], i: usize) -> bool {
    let Some(&c) = chars.get(i) else {
        return false;
    };
    let operator = matches!(c, '(' | ')' | '=' | '<' | '>' | ':' | '"' | '\'')
        || (c == '!' && chars.get(i + 1) == Some(&'='));
    !c.is_whitespace() && !operator
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    text: &'a str,
    regex_terms: usize,
    compare_terms: usize,
    bare_regex_terms: usize,
    saw_or: bool,
}

impl Parser<'_> {
    fn error(&self, why: &str) -> ApiError {
        ApiError::invalid_filter(format!(
            "Invalid list filter expression '{}': {why}",
            self.text
        ))
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut items = vec![self.and()?];
        while self.is_word("OR") {
            self.pos += 1;
            self.saw_or = true;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut items = vec![self.unary(0)?];
        loop {
            if self.is_word("AND") {
                self.pos += 1;
            } else if self.peek().is_none()
                || self.is_word("OR")
                || self.peek() == Some(&Tok::Close)
            {
                break;
            }
            items.push(self.unary(0)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ApiError> {
        if depth > 64 {
            return Err(self.error("nested too deeply"));
        }
        if self.is_word("NOT") || self.is_word("-") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        // `-field = value`: the minus is glued to the field name.
        if let Some(Tok::Word(w)) = self.peek()
            && let Some(field) = w.strip_prefix('-').filter(|f| !f.is_empty())
        {
            self.toks[self.pos] = Tok::Word(field.to_string());
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        match self.peek() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.error("missing ')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Word(_)) => self.term(),
            _ => Err(self.error("expected a field name")),
        }
    }

    /// `field op value`.
    fn term(&mut self) -> Result<Expr, ApiError> {
        let Some(Tok::Word(field)) = self.peek().cloned() else {
            return Err(self.error("expected a field name"));
        };
        self.pos += 1;
        let op = self.peek().cloned();
        self.pos += 1;
        let value = match self.peek().cloned() {
            Some(Tok::Word(w)) if !matches!(w.as_str(), "AND" | "OR") => w,
            Some(Tok::Quoted(q)) => q,
            _ => return Err(self.error(&format!("missing value for field '{field}'"))),
        };
        self.pos += 1;
        let regex_op = |negate: bool, p: &mut Self| -> Result<Expr, ApiError> {
            p.regex_terms += 1;
            if p.depth_is_top() {
                p.bare_regex_terms += 1;
            }
            let re = Regex::new(&format!("^(?:{value})$"))
                .map_err(|e| p.error(&format!("bad regular expression '{value}': {e}")))?;
            Ok(Expr::Regex {
                field: field.clone(),
                re,
                negate,
            })
        };
        match op {
            Some(Tok::Word(w)) if w == "eq" => regex_op(false, self),
            Some(Tok::Word(w)) if w == "ne" => regex_op(true, self),
            Some(Tok::Op(o)) => {
                self.compare_terms += 1;
                let op = match o {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    _ => Op::Has,
                };
                Ok(Expr::Compare { field, op, value })
            }
            _ => Err(self.error(&format!("missing operator after field '{field}'"))),
        }
    }

    /// Whether the current term is outside every parenthesis.
    fn depth_is_top(&self) -> bool {
        let opens = self.toks[..self.pos]
            .iter()
            .filter(|t| **t == Tok::Open)
            .count();
        let closes = self.toks[..self.pos]
            .iter()
            .filter(|t| **t == Tok::Close)
            .count();
        opens == closes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route() -> Value {
        json!({
            "name": "rp-demo-0a1b2c3d",
            "description": "routeplane:demo",
            "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/default",
            "priority": 1000,
            "tags": ["a", "b"],
        })
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter).unwrap().unwrap().matches(&route())
    }

    #[test]
    fn eq_is_a_full_match_regular_expression() {
        assert!(check("name eq rp-demo-.*"));
        assert!(check("name eq 'rp-demo-[0-9a-f]{8}'"));
        assert!(!check("name eq rp-demo"), "a prefix is not a full match");
        assert!(check("name ne rp-other-.*"));
        assert!(check(
            r#"(name eq "rp-demo-.*") (network eq ".*/global/networks/default") (description eq "routeplane:demo")"#
        ));
        assert!(!check(
            r#"(name eq "rp-demo-.*") (description eq "routeplane:other")"#
        ));
        assert!(!check("missing eq .*"));
        assert!(check("tags eq b"));
    }

    #[test]
    fn comparisons_with_and_or_not() {
        assert!(check("name = rp-demo-0a1b2c3d"));
        assert!(check("name = \"rp-demo-*\" AND priority >= 1000"));
        assert!(!check("priority < 1000"));
        assert!(check(
            "(priority < 10) OR (description = \"routeplane:demo\")"
        ));
        assert!(check("NOT name = x"));
        assert!(check("-name = x"));
        assert!(check("description:*"));
        assert!(!check("missing:*"));
        assert!(check("name != x priority = 1000"));
    }

    #[test]
    fn refused_forms_name_the_problem() {
        for bad in [
            "name eq a OR description eq b",
            "name eq a description eq b",
            "(name eq a) (priority = 3)",
            "name eq (",
            "name",
            "name eq \"unterminated",
            "(name eq a",
            "name eq [",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert!(
                e.message.contains("Invalid list filter expression"),
                "{bad}"
            );
        }
        assert!(Filter::parse("  ").unwrap().is_none());
    }
}
