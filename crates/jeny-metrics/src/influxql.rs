//! InfluxQL, the part of it that Grafana's InfluxDB query builder, Chronograf and Telegraf send:
//! `SELECT`, the `SHOW` statements a schema browser needs, and `CREATE DATABASE`. `parse` reads a
//! `q` parameter (statements separated by `;`); a statement's `Display` writes canonical InfluxQL
//! that InfluxDB 1.6 accepts (identifiers always double-quoted), and parsing what it wrote gives
//! the same statement. `time_range` splits a `WHERE` condition into the time range it selects and
//! the condition left for the rows.
//!
//! The grammar, precedence, literals and error messages are InfluxDB 1.6's (its `influxql`
//! package): a parse error reads `error parsing query: found X, expected Y at line 1, char N`,
//! the text clients show, positions included (InfluxDB's reader reports a string at the character
//! before its quote, and the end of the query one character further on after a word).
//!
//! Where this differs from InfluxDB 1.6, deliberately:
//! - other statements and clauses (`SHOW SERIES`, `DROP`, `DELETE`, `INTO`, subqueries, `ON *`,
//!   `ORDER BY` or `SLIMIT` on `SHOW`, `CREATE DATABASE ... WITH`) are parse errors that list only
//!   what is supported;
//! - regexes are kept as text, not compiled: the executor's regex engine checks them;
//! - a duration too large for 64 bits is an error (InfluxDB wraps it around unless it turns
//!   negative);
//! - `tz('...')` is kept as written, not looked up, and time strings are read as UTC;
//! - the `GROUP BY` checks InfluxDB makes when it compiles a statement are made here, so their
//!   messages come as parse errors;
//! - `time` under `OR` is no error: InfluxDB 1.6 intersects every time condition whatever joins
//!   them (its docs: `time = a OR time = b` returns nothing), and so does `time_range`.

use std::fmt::{self, Write as _};

/// The earliest time a query may name: InfluxDB keeps `i64::MIN` and `i64::MIN + 1` for itself.
pub const MIN_TIME_NS: i64 = i64::MIN + 2;
/// The latest time a query may name.
pub const MAX_TIME_NS: i64 = i64::MAX - 1;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// One InfluxQL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT ...`.
    Select(SelectStatement),
    /// `SHOW MEASUREMENTS`, `SHOW TAG KEYS`, `SHOW TAG VALUES` or `SHOW FIELD KEYS`.
    Show(Show),
    /// `SHOW DATABASES`.
    ShowDatabases,
    /// `SHOW RETENTION POLICIES [ON db]`: without `ON`, the request's `db`.
    ShowRetentionPolicies(Option<String>),
    /// `CREATE DATABASE name`.
    CreateDatabase(String),
}

/// A `SELECT` statement, clause by clause.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectStatement {
    /// What to select, in order.
    pub fields: Vec<Field>,
    /// `FROM`: one or more measurements.
    pub sources: Vec<Measurement>,
    /// `WHERE`, time conditions included (see `time_range`).
    pub condition: Option<Expr>,
    /// `GROUP BY`, in the order written.
    pub dimensions: Vec<Dimension>,
    /// `fill(...)`; absent means InfluxDB's default, `null`.
    pub fill: Option<Fill>,
    /// `ORDER BY time ASC|DESC`.
    pub order: Option<SortOrder>,
    /// `LIMIT n`: points per series.
    pub limit: Option<u64>,
    /// `OFFSET n`: points per series to skip.
    pub offset: Option<u64>,
    /// `SLIMIT n`: series.
    pub series_limit: Option<u64>,
    /// `SOFFSET n`: series to skip.
    pub series_offset: Option<u64>,
    /// `tz('Europe/Paris')`, as written.
    pub time_zone: Option<String>,
}

/// One selected expression and its `AS` alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// A field, a call, math, `*` or a regex.
    pub expr: Expr,
    /// `AS "alias"`.
    pub alias: Option<String>,
}

/// A measurement in `FROM`, optionally qualified: `"db"."rp"."m"`, `"rp"."m"`, `"db".."m"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The database, when named.
    pub database: Option<String>,
    /// The retention policy, when named.
    pub retention_policy: Option<String>,
    /// The measurement's name or a regex over names.
    pub name: MeasurementName,
}

/// A measurement's name, or a regex matching names.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasurementName {
    /// `"cpu"`.
    Name(String),
    /// `/^cpu/`, as the regex's text.
    Regex(String),
}

/// A `GROUP BY` dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Dimension {
    /// `time(1m)` or `time(1m, 30s)`: the interval in nanoseconds, and the offset.
    Time(i64, Option<TimeOffset>),
    /// `"host"`: a tag key.
    Tag(String),
    /// `*`: every tag.
    Wildcard,
    /// `/re/`: the tags whose keys match.
    Regex(String),
}

/// The second argument of `time(interval, offset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOffset {
    /// A duration in nanoseconds (may be negative).
    Duration(i64),
    /// `now()`: buckets end at the query's now.
    Now,
}

/// `fill(...)`: what an empty `GROUP BY time` bucket holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// `fill(null)`, the default.
    Null,
    /// `fill(none)`: empty buckets are left out.
    None,
    /// `fill(previous)`.
    Previous,
    /// `fill(linear)`.
    Linear,
    /// `fill(0)`.
    Integer(i64),
    /// `fill(0.5)`.
    Float(f64),
}

/// `ORDER BY time ASC|DESC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Oldest first, the default.
    Ascending,
    /// Newest first.
    Descending,
}

/// A schema statement: `SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =~ /re/] [WHERE ...]`,
/// `SHOW TAG KEYS [ON db] [FROM ...] [WHERE ...]`, `SHOW TAG VALUES [ON db] [FROM ...] WITH KEY ...
/// [WHERE ...]` or `SHOW FIELD KEYS [ON db] [FROM ...]`, each with `[LIMIT n] [OFFSET n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Show {
    /// What is listed.
    pub kind: ShowKind,
    /// `ON db`; without it, the request's `db`.
    pub database: Option<String>,
    /// `FROM`; empty means every measurement (always empty for `SHOW MEASUREMENTS`).
    pub sources: Vec<Measurement>,
    /// `WHERE`, over tags (always absent for `SHOW FIELD KEYS`).
    pub condition: Option<Expr>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
    /// `OFFSET n`.
    pub offset: Option<u64>,
}

/// What a `Show` statement lists.
#[derive(Debug, Clone, PartialEq)]
pub enum ShowKind {
    /// `SHOW MEASUREMENTS`, with its `WITH MEASUREMENT = "m"` or `=~ /re/`.
    Measurements(Option<Measurement>),
    /// `SHOW TAG KEYS`.
    TagKeys,
    /// `SHOW TAG VALUES WITH KEY ...`.
    TagValues(TagKeyFilter),
    /// `SHOW FIELD KEYS`.
    FieldKeys,
}

/// The tag keys `WITH KEY` selects.
#[derive(Debug, Clone, PartialEq)]
pub enum TagKeyFilter {
    /// `WITH KEY = "k"`.
    Equal(String),
    /// `WITH KEY != "k"`.
    NotEqual(String),
    /// `WITH KEY =~ /re/`.
    Regex(String),
    /// `WITH KEY !~ /re/`.
    NotRegex(String),
    /// `WITH KEY IN ("a", "b")`.
    In(Vec<String>),
}

/// An expression: in the field list, in `WHERE`, as a call's argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field, a tag or `time` (segments joined by `.`), with its `::type` cast if any.
    VarRef(String, Option<DataType>),
    /// `*`, `*::field` or `*::tag`.
    Wildcard(Option<DataType>),
    /// `mean("f")`, `now()`: the name lowercase, then the arguments.
    Call(String, Vec<Expr>),
    /// `DISTINCT "f"`, the form without parentheses.
    Distinct(String),
    /// `lhs op rhs`.
    Binary(Box<Expr>, BinaryOp, Box<Expr>),
    /// `( ... )`, kept so that text and tree say the same.
    Paren(Box<Expr>),
    /// `42`.
    Integer(i64),
    /// An integer above `i64::MAX`.
    Unsigned(u64),
    /// `4.2`.
    Float(f64),
    /// `'text'`.
    String(String),
    /// `true` or `false`.
    Boolean(bool),
    /// `6h`, in nanoseconds.
    Duration(i64),
    /// `/re/`, as the regex's text.
    Regex(String),
}

/// A `::type` cast; `Field` and `Tag` are `::field` (any field) and `::tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `::float`.
    Float,
    /// `::integer`.
    Integer,
    /// `::unsigned`.
    Unsigned,
    /// `::string`.
    String,
    /// `::boolean`.
    Boolean,
    /// `::field`.
    Field,
    /// `::tag`.
    Tag,
}

/// A binary operator; `as_str` gives its InfluxQL text and `precedence` how tightly it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `&`.
    BitAnd,
    /// `|`.
    BitOr,
    /// `^`.
    BitXor,
    /// `AND`.
    And,
    /// `OR`.
    Or,
    /// `=`.
    Eq,
    /// `!=`, also read from `<>`.
    NotEq,
    /// `=~`.
    EqRegex,
    /// `!~`.
    NotEqRegex,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
}

/// Every operator, its text and its precedence (InfluxDB's: higher binds tighter).
const OPERATORS: [(BinaryOp, &str, u8); 18] = [
    (BinaryOp::Or, "OR", 1),
    (BinaryOp::And, "AND", 2),
    (BinaryOp::Eq, "=", 3),
    (BinaryOp::NotEq, "!=", 3),
    (BinaryOp::EqRegex, "=~", 3),
    (BinaryOp::NotEqRegex, "!~", 3),
    (BinaryOp::Lt, "<", 3),
    (BinaryOp::LtEq, "<=", 3),
    (BinaryOp::Gt, ">", 3),
    (BinaryOp::GtEq, ">=", 3),
    (BinaryOp::Add, "+", 4),
    (BinaryOp::Sub, "-", 4),
    (BinaryOp::BitOr, "|", 4),
    (BinaryOp::BitXor, "^", 4),
    (BinaryOp::Mul, "*", 5),
    (BinaryOp::Div, "/", 5),
    (BinaryOp::Mod, "%", 5),
    (BinaryOp::BitAnd, "&", 5),
];

impl BinaryOp {
    fn entry(self) -> (BinaryOp, &'static str, u8) {
        OPERATORS
            .into_iter()
            .find(|(op, ..)| *op == self)
            .unwrap_or((self, "", 0))
    }

    /// How tightly the operator binds: `OR` 1, `AND` 2, comparisons 3, `+ - | ^` 4, `* / % &` 5.
    pub fn precedence(self) -> u8 {
        self.entry().2
    }

    /// The operator as InfluxQL writes it.
    pub fn as_str(self) -> &'static str {
        self.entry().1
    }
}

/// Where a token starts, 1-based, counted in characters as InfluxDB counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The character in the line, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, char {}", self.line, self.column)
    }
}

/// A query InfluxQL cannot read; the text is InfluxDB's, for clients to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A token the grammar does not allow where it stands.
    #[error("error parsing query: found {found}, expected {} at {position}", .expected.join(", "))]
    Unexpected {
        /// The token as InfluxDB names it (`EOF`, `FROM`, an identifier's text).
        found: String,
        /// What would have been accepted.
        expected: Vec<&'static str>,
        /// Where the token starts.
        position: Position,
    },
    /// Something that reads but cannot be: an integer too large, `fill(x)`, a bad dimension.
    #[error("error parsing query: {0}")]
    Invalid(String),
}

/// A `WHERE` condition `time_range` cannot use; the text is InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConditionError(pub String);

/// Reads `text` (the `q` parameter) into its statements; an empty text has none. Like InfluxDB's
/// HTTP handler, it first trims whitespace from both ends (error positions count from there).
pub fn parse(text: &str) -> Result<Vec<Statement>, ParseError> {
    let mut parser = Parser {
        lexer: Lexer::new(text.trim()),
    };
    let mut statements = Vec::new();
    let mut after_separator = true;
    loop {
        let token = parser.peek();
        match token.tok {
            Tok::End => return Ok(statements),
            Tok::Punct(";") => after_separator = parser.eat(&Tok::Punct(";")),
            _ if !after_separator => return Err(unexpected(&token, &[";"])),
            _ => {
                statements.push(parser.parse_statement()?);
                after_separator = false;
            }
        }
    }
}

/// Writes statements as one query text, separated by `;`.
pub fn render(statements: &[Statement]) -> String {
    let texts: Vec<String> = statements.iter().map(Statement::to_string).collect();
    texts.join("; ")
}

// -------------------------------------------------------------------------------------------------
// Lexer

/// Every InfluxQL 1.6 keyword (with `AND`, `OR`, `TRUE`, `FALSE`): bare, these are no identifiers.
const KEYWORDS: &str = "ALL ALTER ANALYZE ANY AS ASC BEGIN BY CARDINALITY CREATE CONTINUOUS \
    DATABASE DATABASES DEFAULT DELETE DESC DESTINATIONS DIAGNOSTICS DISTINCT DROP DURATION END \
    EVERY EXACT EXPLAIN FIELD FOR FROM GRANT GRANTS GROUP GROUPS IN INF INSERT INTO KEY KEYS KILL \
    LIMIT MEASUREMENT MEASUREMENTS NAME OFFSET ON ORDER PASSWORD POLICY POLICIES PRIVILEGES \
    QUERIES QUERY READ REPLICATION RESAMPLE RETENTION REVOKE SELECT SERIES SET SHOW SHARD SHARDS \
    SLIMIT SOFFSET STATS SUBSCRIPTION SUBSCRIPTIONS TAG TO USER USERS VALUES WHERE WITH WRITE \
    AND OR TRUE FALSE";

fn keyword(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    KEYWORDS
        .split_whitespace()
        .find(|keyword| *keyword == upper)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    End,
    Ident(String),
    Keyword(&'static str),
    Str(String),
    BadString(String),
    BadEscape(String),
    Integer(String),
    Number(String),
    Duration(String),
    Param(String),
    Op(BinaryOp),
    Punct(&'static str),
    Illegal(String),
}

impl Tok {
    /// The token as InfluxDB's messages name it: a literal's text, else the token's name.
    fn found(&self) -> String {
        let (text, name) = match self {
            Tok::End => ("", "EOF"),
            Tok::Ident(text) => (text.as_str(), "IDENT"),
            Tok::Str(text) => (text.as_str(), "STRING"),
            Tok::BadString(text) => (text.as_str(), "BADSTRING"),
            Tok::BadEscape(text) | Tok::Integer(text) | Tok::Number(text) => (text.as_str(), ""),
            Tok::Duration(text) | Tok::Param(text) => (text.as_str(), ""),
            Tok::Illegal(text) => (text.as_str(), "ILLEGAL"),
            Tok::Keyword(name) | Tok::Punct(name) => ("", *name),
            Tok::Op(op) => ("", op.as_str()),
        };
        if text.is_empty() { name } else { text }.to_owned()
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    position: Position,
    /// Whitespace or a comment came before it (calls, casts and segments allow none).
    spaced: bool,
}

#[derive(Debug, Clone, Copy)]
struct Cursor {
    index: usize,
    line: usize,
    column: usize,
    /// Where the character before the cursor is: InfluxDB reports a string there.
    previous: Position,
}

impl Cursor {
    fn position(&self) -> Position {
        Position {
            line: self.line + 1,
            column: self.column + 1,
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    cursor: Cursor,
    /// InfluxDB's reader counts one character more once something read past the end (a word,
    /// whitespace, a look for a regex), and then reports the end one character further on.
    end_read: bool,
    /// Where the end was first reported: InfluxDB's scanner keeps the token it buffered.
    end_position: Option<Position>,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        let start = Position { line: 1, column: 1 };
        let cursor = Cursor {
            index: 0,
            line: 0,
            column: 0,
            previous: start,
        };
        let chars = text.chars().collect();
        Lexer {
            chars,
            cursor,
            end_read: false,
            end_position: None,
        }
    }

    /// A character ahead, with `\r` read as the newline InfluxDB makes of it.
    fn peek_char(&self, ahead: usize) -> Option<char> {
        let ch = *self.chars.get(self.cursor.index + ahead)?;
        Some(if ch == '\r' { '\n' } else { ch })
    }

    fn advance(&mut self) -> Option<char> {
        let Some(ch) = self.peek_char(0) else {
            self.end_read = true;
            return None;
        };
        self.cursor.previous = self.cursor.position();
        let crlf = self.chars[self.cursor.index] == '\r' && self.peek_char(1) == Some('\n');
        self.cursor.index += if crlf { 2 } else { 1 };
        if ch == '\n' {
            self.cursor.line += 1;
            self.cursor.column = 0;
        } else {
            self.cursor.column += 1;
        }
        Some(ch)
    }

    fn advance_while(&mut self, text: &mut String, accept: impl Fn(char) -> bool) {
        while let Some(ch) = self.peek_char(0).filter(|ch| accept(*ch)) {
            self.advance();
            text.push(ch);
        }
    }

    fn eat(&mut self, expected: char) -> bool {
        let matched = self.peek_char(0) == Some(expected);
        if matched {
            self.advance();
        }
        matched
    }

    fn skip_whitespace(&mut self) -> bool {
        let start = self.cursor.index;
        self.advance_while(&mut String::new(), |ch| matches!(ch, ' ' | '\t' | '\n'));
        let skipped = self.cursor.index > start;
        self.end_read |= skipped && self.peek_char(0).is_none();
        skipped
    }

    /// Skips whitespace and comments, saying whether there were any; an unclosed comment is an
    /// illegal token where it starts.
    fn skip_space(&mut self) -> Result<bool, Position> {
        let mut spaced = false;
        loop {
            spaced |= self.skip_whitespace();
            match (self.peek_char(0), self.peek_char(1)) {
                (Some('-'), Some('-')) => while self.advance().is_some_and(|ch| ch != '\n') {},
                (Some('/'), Some('*')) => {
                    let start = self.cursor.position();
                    self.advance();
                    self.advance();
                    let mut previous = None;
                    loop {
                        match self.advance() {
                            None => return Err(start),
                            Some('/') if previous == Some('*') => break,
                            ch => previous = ch,
                        }
                    }
                }
                _ => return Ok(spaced),
            }
            spaced = true;
        }
    }

    fn next_token(&mut self) -> Token {
        let (spaced, unclosed_comment) = match self.skip_space() {
            Ok(spaced) => (spaced, None),
            Err(start) => (true, Some(start)),
        };
        let token = |tok, position| Token {
            tok,
            position,
            spaced,
        };
        if let Some(start) = unclosed_comment {
            return token(Tok::Illegal(String::new()), start);
        }
        let before = self.cursor;
        let mut position = before.position();
        let Some(ch) = self.peek_char(0) else {
            let mut end = position;
            end.column += usize::from(self.end_read);
            return token(Tok::End, *self.end_position.get_or_insert(end));
        };
        self.advance();
        let op = |op| Tok::Op(op);
        let tok = match ch {
            ch if ch.is_ascii_alphabetic() || ch == '_' => {
                let mut word = ch.to_string();
                self.advance_while(&mut word, |ch| ch.is_ascii_alphanumeric() || ch == '_');
                self.end_read |= self.peek_char(0).is_none();
                match keyword(&word) {
                    Some("AND") => op(BinaryOp::And),
                    Some("OR") => op(BinaryOp::Or),
                    Some(keyword) => Tok::Keyword(keyword),
                    None => Tok::Ident(word),
                }
            }
            '0'..='9' => self.scan_number(ch),
            '.' if self.peek_char(0).is_some_and(|ch| ch.is_ascii_digit()) => self.scan_number(ch),
            '"' | '\'' => {
                let before_quote = before.previous;
                match self.scan_quoted(ch) {
                    Ok(text) if ch == '"' => Tok::Ident(text),
                    Ok(text) => {
                        position = before_quote;
                        Tok::Str(text)
                    }
                    Err((tok, at)) => {
                        position = at.unwrap_or(before_quote);
                        tok
                    }
                }
            }
            '$' => {
                let mut name = String::from("$");
                self.advance_while(&mut name, |ch| ch.is_ascii_alphanumeric() || ch == '_');
                Tok::Param(name)
            }
            '+' => op(BinaryOp::Add),
            '-' => op(BinaryOp::Sub),
            '*' => op(BinaryOp::Mul),
            '/' => op(BinaryOp::Div),
            '%' => op(BinaryOp::Mod),
            '&' => op(BinaryOp::BitAnd),
            '|' => op(BinaryOp::BitOr),
            '^' => op(BinaryOp::BitXor),
            '=' if self.eat('~') => op(BinaryOp::EqRegex),
            '=' => op(BinaryOp::Eq),
            '!' if self.eat('=') => op(BinaryOp::NotEq),
            '!' if self.eat('~') => op(BinaryOp::NotEqRegex),
            '>' if self.eat('=') => op(BinaryOp::GtEq),
            '>' => op(BinaryOp::Gt),
            '<' if self.eat('>') => op(BinaryOp::NotEq),
            '<' if self.eat('=') => op(BinaryOp::LtEq),
            '<' => op(BinaryOp::Lt),
            ':' if self.eat(':') => Tok::Punct("::"),
            '(' => Tok::Punct("("),
            ')' => Tok::Punct(")"),
            ',' => Tok::Punct(","),
            ';' => Tok::Punct(";"),
            '.' => Tok::Punct("."),
            ':' => Tok::Punct(":"),
            other => Tok::Illegal(other.to_string()),
        };
        token(tok, position)
    }

    /// Digits, a fraction, or digits and unit letters (a duration), as InfluxDB's scanner reads
    /// them: `10.` is the number 10, `10.5h` a number then `h`.
    fn scan_number(&mut self, first: char) -> Tok {
        let mut text = first.to_string();
        self.advance_while(&mut text, |ch| ch.is_ascii_digit());
        if first == '.' {
            return Tok::Number(text);
        }
        if self.eat('.') {
            if self.peek_char(0).is_some_and(|ch| ch.is_ascii_digit()) {
                text.push('.');
                self.advance_while(&mut text, |ch| ch.is_ascii_digit());
            }
            return Tok::Number(text);
        }
        let unit = |ch: char| ch.is_ascii_alphabetic() || ch == 'µ';
        if !self.peek_char(0).is_some_and(unit) {
            return Tok::Integer(text);
        }
        self.advance_while(&mut text, unit);
        self.advance_while(&mut text, |ch| unit(ch) || ch.is_ascii_digit());
        Tok::Duration(text)
    }

    /// The rest of a quoted string or identifier (escapes `\n`, `\\`, `\"`, `\'`), or the bad
    /// token and, for a bad escape, where InfluxDB reports it.
    fn scan_quoted(&mut self, quote: char) -> Result<String, (Tok, Option<Position>)> {
        let mut text = String::new();
        loop {
            match self.advance() {
                None | Some('\n') => return Err((Tok::BadString(text), None)),
                Some(ch) if ch == quote => return Ok(text),
                Some('\\') => match (self.cursor.position(), self.advance()) {
                    (_, Some('n')) => text.push('\n'),
                    (_, Some(ch @ ('\\' | '"' | '\''))) => text.push(ch),
                    (at, Some(ch)) => return Err((Tok::BadEscape(format!("\\{ch}")), Some(at))),
                    // InfluxDB reads the end as a NUL character, and reports it.
                    (at, None) => return Err((Tok::BadEscape("\\\0".to_owned()), Some(at))),
                },
                Some(ch) => text.push(ch),
            }
        }
    }

    /// A `/regex/` at the cursor; `\/` is a slash, any other escape stays as written.
    fn scan_regex(&mut self) -> Result<String, ParseError> {
        let start = self.cursor.previous;
        self.advance();
        let mut text = String::new();
        loop {
            match self.advance() {
                Some('/') => return Ok(text),
                Some('\\') if self.eat('/') => text.push('/'),
                Some('\n') | None => return Err(invalid(format!("bad regex:  at {start}"))),
                Some(ch) => text.push(ch),
            }
        }
    }
}

// -------------------------------------------------------------------------------------------------
// Parser

fn unexpected(token: &Token, expected: &[&'static str]) -> ParseError {
    let (found, position) = (token.tok.found(), token.position);
    ParseError::Unexpected {
        found,
        expected: expected.to_vec(),
        position,
    }
}

fn invalid(message: impl Into<String>) -> ParseError {
    ParseError::Invalid(message.into())
}

const EXPRESSION_START: &[&str] = &["identifier", "string", "number", "bool"];
const CAST_TYPES: &[&str] = &["float", "integer", "unsigned", "string", "boolean"];

struct Parser {
    lexer: Lexer,
}

impl Parser {
    fn next(&mut self) -> Token {
        self.lexer.next_token()
    }

    fn peek(&mut self) -> Token {
        let saved = self.lexer.cursor;
        let token = self.lexer.next_token();
        self.lexer.cursor = saved;
        token
    }

    /// The next token when it is `tok` with nothing before it (`mean(`, `"db".`, `x::`).
    fn eat_adjacent(&mut self, tok: &Tok) -> bool {
        let next = self.peek();
        next.tok == *tok && !next.spaced && self.eat(tok)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let matched = self.peek().tok == *tok;
        if matched {
            self.next();
        }
        matched
    }

    fn eat_keyword(&mut self, keyword: &'static str) -> bool {
        self.eat(&Tok::Keyword(keyword))
    }

    /// The keyword or punctuation `expected`, or InfluxDB's error naming it.
    fn expect(&mut self, expected: &'static str) -> Result<(), ParseError> {
        let token = self.next();
        match token.tok {
            Tok::Keyword(found) | Tok::Punct(found) if found == expected => Ok(()),
            _ => Err(unexpected(&token, &[expected])),
        }
    }

    fn parse_ident(&mut self) -> Result<String, ParseError> {
        let token = self.next();
        match token.tok {
            Tok::Ident(name) => Ok(name),
            _ => Err(unexpected(&token, &["identifier"])),
        }
    }

    fn parse_ident_if(&mut self, keyword: &'static str) -> Result<Option<String>, ParseError> {
        if self.eat_keyword(keyword) {
            self.parse_ident().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A `/regex/` when the next character after whitespace opens one, as InfluxDB looks ahead.
    fn try_regex(&mut self) -> Result<Option<String>, ParseError> {
        self.lexer.skip_whitespace();
        match self.lexer.peek_char(0) {
            Some('/') => self.lexer.scan_regex().map(Some),
            next => {
                self.lexer.end_read |= next.is_none();
                Ok(None)
            }
        }
    }

    fn parse_regex(&mut self) -> Result<String, ParseError> {
        match self.try_regex()? {
            Some(regex) => Ok(regex),
            None => Err(unexpected(&self.next(), &["regex"])),
        }
    }

    fn parse_statement(&mut self) -> Result<Statement, ParseError> {
        let token = self.next();
        match token.tok {
            Tok::Keyword("SELECT") => self.parse_select().map(Statement::Select),
            Tok::Keyword("SHOW") => self.parse_show(),
            Tok::Keyword("CREATE") => {
                self.expect("DATABASE")?;
                self.parse_ident().map(Statement::CreateDatabase)
            }
            _ => Err(unexpected(&token, &["SELECT", "SHOW", "CREATE"])),
        }
    }

    fn parse_show(&mut self) -> Result<Statement, ParseError> {
        let token = self.next();
        let kind = match token.tok {
            Tok::Keyword("DATABASES") => return Ok(Statement::ShowDatabases),
            Tok::Keyword("RETENTION") => {
                self.expect("POLICIES")?;
                let database = self.parse_ident_if("ON")?;
                return Ok(Statement::ShowRetentionPolicies(database));
            }
            Tok::Keyword("MEASUREMENTS") => ShowKind::Measurements(None),
            Tok::Keyword("FIELD") => {
                self.expect("KEYS")?;
                ShowKind::FieldKeys
            }
            Tok::Keyword("TAG") => match self.next() {
                token if token.tok == Tok::Keyword("KEYS") => ShowKind::TagKeys,
                // The key filter comes after `ON` and `FROM`: read below.
                token if token.tok == Tok::Keyword("VALUES") => {
                    ShowKind::TagValues(TagKeyFilter::In(Vec::new()))
                }
                other => return Err(unexpected(&other, &["KEYS", "VALUES"])),
            },
            _ => {
                let expected = ["DATABASES", "FIELD", "MEASUREMENTS", "RETENTION", "TAG"];
                return Err(unexpected(&token, &expected));
            }
        };
        let database = self.parse_ident_if("ON")?;
        let (sources, condition, limit, offset) = (Vec::new(), None, None, None);
        let mut show = Show {
            kind,
            database,
            sources,
            condition,
            limit,
            offset,
        };
        match &mut show.kind {
            ShowKind::Measurements(with) if self.eat_keyword("WITH") => {
                self.expect("MEASUREMENT")?;
                let operator = self.next();
                if !matches!(operator.tok, Tok::Op(BinaryOp::Eq | BinaryOp::EqRegex)) {
                    return Err(unexpected(&operator, &["=", "=~"]));
                }
                *with = Some(self.parse_source()?);
            }
            ShowKind::Measurements(_) => {}
            _ if self.eat_keyword("FROM") => show.sources = self.parse_sources()?,
            _ => {}
        }
        if let ShowKind::TagValues(key) = &mut show.kind {
            *key = self.parse_tag_key_filter()?;
        }
        if show.kind != ShowKind::FieldKeys {
            show.condition = self.parse_where()?;
        }
        (show.limit, show.offset) = self.parse_limit_offset()?;
        Ok(Statement::Show(show))
    }

    fn parse_where(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.eat_keyword("WHERE") {
            self.parse_expr().map(Some)
        } else {
            Ok(None)
        }
    }

    fn parse_tag_key_filter(&mut self) -> Result<TagKeyFilter, ParseError> {
        self.expect("WITH")?;
        self.expect("KEY")?;
        let operator = self.next();
        match operator.tok {
            Tok::Keyword("IN") => {
                self.expect("(")?;
                let mut keys = vec![self.parse_ident()?];
                while self.eat(&Tok::Punct(",")) {
                    keys.push(self.parse_ident()?);
                }
                self.expect(")")?;
                Ok(TagKeyFilter::In(keys))
            }
            Tok::Op(BinaryOp::Eq) => self.parse_ident().map(TagKeyFilter::Equal),
            Tok::Op(BinaryOp::NotEq) => self.parse_ident().map(TagKeyFilter::NotEqual),
            Tok::Op(BinaryOp::EqRegex) => self.parse_regex().map(TagKeyFilter::Regex),
            Tok::Op(BinaryOp::NotEqRegex) => self.parse_regex().map(TagKeyFilter::NotRegex),
            _ => Err(unexpected(&operator, &["IN", "=", "=~"])),
        }
    }

    fn parse_select(&mut self) -> Result<SelectStatement, ParseError> {
        let mut select = SelectStatement {
            fields: vec![self.parse_field()?],
            ..Default::default()
        };
        while self.eat(&Tok::Punct(",")) {
            select.fields.push(self.parse_field()?);
        }
        self.expect("FROM")?;
        select.sources = self.parse_sources()?;
        select.condition = self.parse_where()?;
        let mut dimensions = Vec::new();
        if self.eat_keyword("GROUP") {
            self.expect("BY")?;
            loop {
                dimensions.push(self.parse_expr_or_regex()?);
                if !self.eat(&Tok::Punct(",")) {
                    break;
                }
            }
        }
        select.fill = self.parse_fill()?;
        select.order = self.parse_order_by()?;
        (select.limit, select.offset) = self.parse_limit_offset()?;
        select.series_limit = self.parse_integer_if("SLIMIT")?;
        select.series_offset = self.parse_integer_if("SOFFSET")?;
        select.time_zone = self.parse_time_zone()?;
        select.dimensions = to_dimensions(dimensions)?;
        Ok(select)
    }

    fn parse_field(&mut self) -> Result<Field, ParseError> {
        let expr = match self.try_regex()? {
            Some(regex) => Expr::Regex(regex),
            None => {
                let at = self.peek().position;
                let expr = self.parse_expr()?;
                if let Some(op) = find_condition_operator(&expr) {
                    let reason = "operator is intended for WHERE clause";
                    let message =
                        format!("invalid operator {op} in SELECT clause at {at}; {reason}");
                    return Err(invalid(message));
                }
                expr
            }
        };
        Ok(Field {
            expr,
            alias: self.parse_ident_if("AS")?,
        })
    }

    fn parse_expr_or_regex(&mut self) -> Result<Expr, ParseError> {
        match self.try_regex()? {
            Some(regex) => Ok(Expr::Regex(regex)),
            None => self.parse_expr(),
        }
    }

    fn parse_sources(&mut self) -> Result<Vec<Measurement>, ParseError> {
        let mut sources = vec![self.parse_source()?];
        while self.eat(&Tok::Punct(",")) {
            sources.push(self.parse_source()?);
        }
        Ok(sources)
    }

    fn parse_source(&mut self) -> Result<Measurement, ParseError> {
        let mut segments = Vec::new();
        let name = match self.try_regex()? {
            Some(regex) => MeasurementName::Regex(regex),
            None => {
                let first = self.parse_ident()?;
                let regex_follows;
                (segments, regex_follows) = self.parse_segments(first)?;
                if regex_follows && segments.len() < 3 {
                    MeasurementName::Regex(self.parse_regex()?)
                } else {
                    MeasurementName::Name(segments.pop().unwrap_or_default())
                }
            }
        };
        let mut qualifiers = segments
            .into_iter()
            .map(|segment| Some(segment).filter(|s| !s.is_empty()));
        let (database, retention_policy) = match (qualifiers.next(), qualifiers.next()) {
            (Some(database), Some(retention_policy)) => (database, retention_policy),
            (retention_policy, _) => (None, retention_policy.flatten()),
        };
        Ok(Measurement {
            database,
            retention_policy,
            name,
        })
    }

    /// `a.b.c` after its first segment (`..` leaves an empty one); says whether it stopped
    /// before a regex, as in `"db"."rp"./re/`.
    fn parse_segments(&mut self, first: String) -> Result<(Vec<String>, bool), ParseError> {
        let mut segments = vec![first];
        while self.eat_adjacent(&Tok::Punct(".")) {
            match self.lexer.peek_char(0) {
                Some('/') => return Ok((segments, true)),
                Some(':') => break,
                Some('.') => segments.push(String::new()),
                next => {
                    self.lexer.end_read |= next.is_none();
                    segments.push(self.parse_ident()?);
                }
            }
        }
        if segments.len() > 3 {
            let last = segments.len() - 1;
            let quote = |(index, segment): (usize, &String)| match index == last {
                true if is_bare_ident(segment) => segment.clone(),
                _ => Ident(segment).to_string(),
            };
            let quoted: Vec<String> = segments.iter().enumerate().map(quote).collect();
            let message = format!(
                "too many segments in {} at line 1, char 1",
                quoted.join(".")
            );
            return Err(invalid(message));
        }
        Ok((segments, false))
    }

    fn parse_fill(&mut self) -> Result<Option<Fill>, ParseError> {
        if !matches!(self.peek().tok, Tok::Ident(name) if name.eq_ignore_ascii_case("fill")) {
            return Ok(None);
        }
        let Expr::Call(_, args) = self.parse_expr()? else {
            return Err(invalid("fill must be a function call"));
        };
        let [arg] = args.as_slice() else {
            let message = "fill requires an argument, e.g.: 0, null, none, previous, linear";
            return Err(invalid(message));
        };
        Ok(Some(match arg {
            Expr::VarRef(name, None) if name == "null" => Fill::Null,
            Expr::VarRef(name, None) if name == "none" => Fill::None,
            Expr::VarRef(name, None) if name == "previous" => Fill::Previous,
            Expr::VarRef(name, None) if name == "linear" => Fill::Linear,
            Expr::Integer(value) => Fill::Integer(*value),
            Expr::Float(value) => Fill::Float(*value),
            _ => return Err(invalid("expected number argument in fill()")),
        }))
    }

    fn parse_order_by(&mut self) -> Result<Option<SortOrder>, ParseError> {
        if !self.eat_keyword("ORDER") {
            return Ok(None);
        }
        self.expect("BY")?;
        let only_time = || invalid("only ORDER BY time supported at this time");
        let first = self.next();
        let order = match &first.tok {
            Tok::Keyword("ASC") => SortOrder::Ascending,
            Tok::Keyword("DESC") => SortOrder::Descending,
            Tok::Ident(name) => match self.parse_sort_direction() {
                _ if name != "time" => return Err(only_time()),
                order => order,
            },
            _ => return Err(unexpected(&first, &["identifier", "ASC", "DESC"])),
        };
        if self.eat(&Tok::Punct(",")) {
            self.parse_ident()?;
            return Err(only_time());
        }
        Ok(Some(order))
    }

    fn parse_sort_direction(&mut self) -> SortOrder {
        if self.eat_keyword("DESC") {
            return SortOrder::Descending;
        }
        self.eat_keyword("ASC");
        SortOrder::Ascending
    }

    fn parse_limit_offset(&mut self) -> Result<(Option<u64>, Option<u64>), ParseError> {
        Ok((
            self.parse_integer_if("LIMIT")?,
            self.parse_integer_if("OFFSET")?,
        ))
    }

    fn parse_integer_if(&mut self, keyword: &'static str) -> Result<Option<u64>, ParseError> {
        if !self.eat_keyword(keyword) {
            return Ok(None);
        }
        let token = self.next();
        match &token.tok {
            Tok::Integer(text) => match text.parse() {
                Ok(value) => Ok(Some(value)),
                Err(_) => Err(invalid(format!(
                    "unable to parse integer at {}",
                    token.position
                ))),
            },
            _ => Err(unexpected(&token, &["integer"])),
        }
    }

    fn parse_time_zone(&mut self) -> Result<Option<String>, ParseError> {
        if !matches!(self.peek().tok, Tok::Ident(name) if name.eq_ignore_ascii_case("tz")) {
            return Ok(None);
        }
        let Expr::Call(_, args) = self.parse_expr()? else {
            return Err(invalid("tz must be a function call"));
        };
        match args.as_slice() {
            [Expr::String(zone)] => Ok(Some(zone.clone())),
            [_] => Err(invalid("expected string argument in tz()")),
            _ => Err(invalid("tz requires exactly one argument")),
        }
    }

    fn parse_expr(&mut self) -> Result<Expr, ParseError> {
        let lhs = self.parse_unary()?;
        self.parse_binary(lhs, 1)
    }

    /// Precedence climbing: operators of equal precedence group to the left, as in InfluxDB.
    fn parse_binary(&mut self, mut lhs: Expr, min_precedence: u8) -> Result<Expr, ParseError> {
        loop {
            let Tok::Op(op) = self.peek().tok else {
                return Ok(lhs);
            };
            if op.precedence() < min_precedence {
                return Ok(lhs);
            }
            self.next();
            let operand = match op {
                BinaryOp::EqRegex | BinaryOp::NotEqRegex => Expr::Regex(self.parse_regex()?),
                _ => self.parse_unary()?,
            };
            let rhs = self.parse_binary(operand, op.precedence() + 1)?;
            lhs = Expr::Binary(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn parse_unary(&mut self) -> Result<Expr, ParseError> {
        let token = self.next();
        let at = token.position;
        match token.tok {
            Tok::Punct("(") => {
                let inner = self.parse_expr()?;
                self.expect(")")?;
                Ok(Expr::Paren(Box::new(inner)))
            }
            Tok::Ident(name) if self.eat_adjacent(&Tok::Punct("(")) => self.parse_call(&name),
            Tok::Ident(name) => self.parse_var_ref(name),
            Tok::Keyword("DISTINCT") if self.eat_adjacent(&Tok::Punct("(")) => {
                self.parse_call("distinct")
            }
            Tok::Keyword("DISTINCT") => match self.peek() {
                next if next.spaced => self.parse_ident().map(Expr::Distinct),
                next => Err(unexpected(&next, &["(", "identifier"])),
            },
            Tok::Str(text) => Ok(Expr::String(text)),
            Tok::Number(text) => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Expr::Float(value)),
                _ => Err(invalid(format!("unable to parse number at {at}"))),
            },
            Tok::Integer(text) => match (text.parse(), text.parse()) {
                (Ok(value), _) => Ok(Expr::Integer(value)),
                (Err(_), Ok(value)) => Ok(Expr::Unsigned(value)),
                _ => Err(invalid(format!("unable to parse integer at {at}"))),
            },
            Tok::Keyword("TRUE") => Ok(Expr::Boolean(true)),
            Tok::Keyword("FALSE") => Ok(Expr::Boolean(false)),
            Tok::Duration(text) => parse_duration(&text).map(Expr::Duration).map_err(invalid),
            Tok::Op(BinaryOp::Mul) if self.eat_adjacent(&Tok::Punct("::")) => {
                let kind = self.next();
                match kind.tok {
                    Tok::Keyword("FIELD") => Ok(Expr::Wildcard(Some(DataType::Field))),
                    Tok::Keyword("TAG") => Ok(Expr::Wildcard(Some(DataType::Tag))),
                    _ => Err(unexpected(&kind, &["field", "tag"])),
                }
            }
            Tok::Op(BinaryOp::Mul) => Ok(Expr::Wildcard(None)),
            Tok::Param(text) if text == "$" => Err(invalid("empty bound parameter")),
            Tok::Param(text) => Err(invalid(format!("missing parameter: {}", &text[1..]))),
            Tok::Op(BinaryOp::Add) => self.parse_signed(false),
            Tok::Op(BinaryOp::Sub) => self.parse_signed(true),
            _ => Err(unexpected(&token, EXPRESSION_START)),
        }
    }

    /// After `+` or `-`: a literal takes the sign, anything else is multiplied by 1 or -1.
    fn parse_signed(&mut self, negative: bool) -> Result<Expr, ParseError> {
        let next = self.peek();
        if !matches!(
            next.tok,
            Tok::Number(_) | Tok::Integer(_) | Tok::Duration(_) | Tok::Punct("(") | Tok::Ident(_)
        ) {
            return Err(unexpected(
                &self.next(),
                &["identifier", "number", "duration", "("],
            ));
        }
        let sign: i64 = if negative { -1 } else { 1 };
        Ok(match self.parse_unary()? {
            Expr::Float(value) => Expr::Float(value * sign as f64),
            Expr::Integer(value) => Expr::Integer(value * sign),
            Expr::Duration(value) => Expr::Duration(value * sign),
            Expr::Unsigned(value) if !negative => Expr::Unsigned(value),
            Expr::Unsigned(value) if value == i64::MIN.unsigned_abs() => Expr::Integer(i64::MIN),
            Expr::Unsigned(value) => {
                return Err(invalid(format!("constant -{value} underflows int64")));
            }
            operand => Expr::Binary(
                Box::new(Expr::Integer(sign)),
                BinaryOp::Mul,
                Box::new(operand),
            ),
        })
    }

    fn parse_call(&mut self, name: &str) -> Result<Expr, ParseError> {
        let name = name.to_lowercase();
        let mut args = Vec::new();
        match self.try_regex()? {
            Some(regex) => args.push(Expr::Regex(regex)),
            None if self.eat(&Tok::Punct(")")) => return Ok(Expr::Call(name, args)),
            None => args.push(self.parse_expr()?),
        }
        while self.eat(&Tok::Punct(",")) {
            args.push(self.parse_expr_or_regex()?);
        }
        self.expect(")")?;
        Ok(Expr::Call(name, args))
    }

    fn parse_var_ref(&mut self, first: String) -> Result<Expr, ParseError> {
        let name = self.parse_segments(first)?.0.join(".");
        if !self.eat_adjacent(&Tok::Punct("::")) {
            return Ok(Expr::VarRef(name, None));
        }
        let kind = self.next();
        let data_type = match &kind.tok {
            Tok::Keyword("FIELD") => DataType::Field,
            Tok::Keyword("TAG") => DataType::Tag,
            Tok::Ident(text) => match text.to_lowercase().as_str() {
                "float" => DataType::Float,
                "integer" => DataType::Integer,
                "unsigned" => DataType::Unsigned,
                "string" => DataType::String,
                "boolean" => DataType::Boolean,
                _ => return Err(unexpected(&kind, &[CAST_TYPES, &["field", "tag"]].concat())),
            },
            _ => {
                let expected = ["float", "integer", "string", "boolean", "field", "tag"];
                return Err(unexpected(&kind, &expected));
            }
        };
        Ok(Expr::VarRef(name, Some(data_type)))
    }
}

/// The first comparison or logical operator in `expr`, as InfluxDB walks it.
fn find_condition_operator(expr: &Expr) -> Option<BinaryOp> {
    match expr {
        Expr::Binary(_, op, _) if op.precedence() <= 3 => Some(*op),
        Expr::Binary(lhs, _, rhs) => {
            find_condition_operator(lhs).or_else(|| find_condition_operator(rhs))
        }
        Expr::Paren(inner) => find_condition_operator(inner),
        Expr::Call(_, args) => args.iter().find_map(find_condition_operator),
        _ => None,
    }
}

/// The `GROUP BY` expressions as dimensions, checked as InfluxDB checks them when it compiles.
fn to_dimensions(exprs: Vec<Expr>) -> Result<Vec<Dimension>, ParseError> {
    let mut dimensions = Vec::with_capacity(exprs.len());
    for expr in exprs {
        dimensions.push(match expr {
            Expr::Regex(regex) => Dimension::Regex(regex),
            Expr::Wildcard(_) => Dimension::Wildcard,
            Expr::VarRef(name, _) if name.eq_ignore_ascii_case("time") => {
                return Err(invalid(
                    "time() is a function and expects at least one argument",
                ));
            }
            Expr::VarRef(name, _) => Dimension::Tag(name),
            Expr::Call(name, _) if name != "time" => {
                return Err(invalid("only time() calls allowed in dimensions"));
            }
            Expr::Call(_, args) => {
                if !(1..=2).contains(&args.len()) {
                    return Err(invalid("time dimension expected 1 or 2 arguments"));
                }
                let Expr::Duration(interval) = args[0] else {
                    return Err(invalid("time dimension must have duration argument"));
                };
                if dimensions.iter().any(|d| matches!(d, Dimension::Time(..))) {
                    return Err(invalid("multiple time dimensions not allowed"));
                }
                let offset = match args.get(1) {
                    None => None,
                    Some(Expr::Duration(offset)) => Some(TimeOffset::Duration(*offset)),
                    Some(Expr::Call(name, args)) if name == "now" && args.is_empty() => {
                        Some(TimeOffset::Now)
                    }
                    Some(Expr::Call(name, _)) if name == "now" => {
                        let message = "time dimension offset now() function requires no arguments";
                        return Err(invalid(message));
                    }
                    Some(Expr::Call(..)) => {
                        return Err(invalid("time dimension offset function must be now()"));
                    }
                    Some(_) => {
                        return Err(invalid("time dimension offset must be duration or now()"));
                    }
                };
                Dimension::Time(interval, offset)
            }
            _ => return Err(invalid("only time and tag dimensions allowed")),
        });
    }
    Ok(dimensions)
}

/// Duration units, largest first, in nanoseconds; `µ` reads as `u`.
const UNITS: [(&str, i64); 8] = [
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("u", 1_000),
    ("ns", 1),
];

/// Reads an InfluxQL duration (`90s`, `1h30m`, units `ns u µ ms s m h d w`) into nanoseconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    const INVALID: &str = "invalid duration";
    let (negative, mut rest) = text
        .strip_prefix('-')
        .map_or((false, text), |rest| (true, rest));
    if text.chars().count() < 2 {
        return Err(INVALID.to_owned());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|ch: char| !ch.is_ascii_digit()).ok_or(INVALID)?;
        let amount: i64 = rest[..digits].parse().map_err(|_| INVALID)?;
        let after = &rest[digits..];
        let unit = ["ns", "ms", "µ", "u", "s", "m", "h", "d", "w"];
        let unit = unit
            .into_iter()
            .find(|unit| after.starts_with(unit))
            .ok_or(INVALID)?;
        let name = if unit == "µ" { "u" } else { unit };
        let nanos = UNITS
            .into_iter()
            .find(|(unit, _)| *unit == name)
            .map_or(1, |(_, n)| n);
        let overflow =
            || format!("overflowed duration {amount}{unit}: choose a smaller duration or INF");
        total = amount
            .checked_mul(nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(overflow)?;
        rest = &after[unit.len()..];
    }
    Ok(if negative { -total } else { total })
}

/// Writes nanoseconds as InfluxQL does: in the largest unit that divides them (`90s`, `2w`).
pub fn format_duration(nanos: i64) -> String {
    match UNITS.into_iter().find(|(_, size)| nanos % size == 0) {
        _ if nanos == 0 => "0s".to_owned(),
        Some((unit, size)) => format!("{}{unit}", nanos / size),
        None => format!("{nanos}ns"),
    }
}

// -------------------------------------------------------------------------------------------------
// Renderer

/// An identifier, always double-quoted.
struct Ident<'a>(&'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0, '"')
    }
}

/// A string literal, single-quoted.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0, '\'')
    }
}

/// A regex between slashes.
struct Regex<'a>(&'a str);

impl fmt::Display for Regex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.replace('/', "\\/"))
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for ch in text.chars() {
        match ch {
            '\n' => f.write_str("\\n")?,
            '\\' => f.write_str("\\\\")?,
            ch if ch == quote => write!(f, "\\{ch}")?,
            ch => f.write_char(ch)?,
        }
    }
    f.write_char(quote)
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        let separator = if index > 0 { ", " } else { "" };
        write!(f, "{separator}{item}")?;
    }
    Ok(())
}

/// ` ON "db"`, ` FROM ...`, ` WHERE ...`, ` LIMIT n`, ` OFFSET n`, each when present.
fn write_clauses(
    f: &mut fmt::Formatter<'_>,
    database: Option<&String>,
    sources: &[Measurement],
    condition: Option<&Expr>,
    (limit, offset): (Option<u64>, Option<u64>),
) -> fmt::Result {
    if let Some(database) = database {
        write!(f, " ON {}", Ident(database))?;
    }
    if !sources.is_empty() {
        f.write_str(" FROM ")?;
        write_list(f, sources)?;
    }
    if let Some(condition) = condition {
        write!(f, " WHERE {condition}")?;
    }
    for (keyword, count) in [("LIMIT", limit), ("OFFSET", offset)] {
        if let Some(count) = count {
            write!(f, " {keyword} {count}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(select) => write!(f, "{select}"),
            Statement::Show(show) => write!(f, "{show}"),
            Statement::ShowDatabases => f.write_str("SHOW DATABASES"),
            Statement::ShowRetentionPolicies(database) => {
                f.write_str("SHOW RETENTION POLICIES")?;
                write_clauses(f, database.as_ref(), &[], None, (None, None))
            }
            Statement::CreateDatabase(name) => write!(f, "CREATE DATABASE {}", Ident(name)),
        }
    }
}

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ShowKind::Measurements(_) => "SHOW MEASUREMENTS",
            ShowKind::TagKeys => "SHOW TAG KEYS",
            ShowKind::TagValues(_) => "SHOW TAG VALUES",
            ShowKind::FieldKeys => "SHOW FIELD KEYS",
        })?;
        write_clauses(f, self.database.as_ref(), &self.sources, None, (None, None))?;
        match &self.kind {
            ShowKind::Measurements(Some(measurement)) => match measurement.name {
                MeasurementName::Regex(_) => write!(f, " WITH MEASUREMENT =~ {measurement}")?,
                MeasurementName::Name(_) => write!(f, " WITH MEASUREMENT = {measurement}")?,
            },
            ShowKind::TagValues(TagKeyFilter::Equal(key)) => {
                write!(f, " WITH KEY = {}", Ident(key))?
            }
            ShowKind::TagValues(TagKeyFilter::NotEqual(key)) => {
                write!(f, " WITH KEY != {}", Ident(key))?
            }
            ShowKind::TagValues(TagKeyFilter::Regex(regex)) => {
                write!(f, " WITH KEY =~ {}", Regex(regex))?
            }
            ShowKind::TagValues(TagKeyFilter::NotRegex(regex)) => {
                write!(f, " WITH KEY !~ {}", Regex(regex))?
            }
            ShowKind::TagValues(TagKeyFilter::In(keys)) => {
                let keys: Vec<Ident<'_>> = keys.iter().map(|key| Ident(key)).collect();
                f.write_str(" WITH KEY IN (")?;
                write_list(f, &keys)?;
                f.write_str(")")?;
            }
            _ => {}
        }
        write_clauses(
            f,
            None,
            &[],
            self.condition.as_ref(),
            (self.limit, self.offset),
        )
    }
}

impl fmt::Display for SelectStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        write_list(f, &self.fields)?;
        write_clauses(
            f,
            None,
            &self.sources,
            self.condition.as_ref(),
            (None, None),
        )?;
        if !self.dimensions.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.dimensions)?;
        }
        match self.fill {
            Some(Fill::Null) => f.write_str(" fill(null)")?,
            Some(Fill::None) => f.write_str(" fill(none)")?,
            Some(Fill::Previous) => f.write_str(" fill(previous)")?,
            Some(Fill::Linear) => f.write_str(" fill(linear)")?,
            Some(Fill::Integer(value)) => write!(f, " fill({value})")?,
            Some(Fill::Float(value)) => write!(f, " fill({})", Expr::Float(value))?,
            None => {}
        }
        match self.order {
            Some(SortOrder::Ascending) => f.write_str(" ORDER BY time ASC")?,
            Some(SortOrder::Descending) => f.write_str(" ORDER BY time DESC")?,
            None => {}
        }
        write_clauses(f, None, &[], None, (self.limit, self.offset))?;
        for (keyword, count) in [
            ("SLIMIT", self.series_limit),
            ("SOFFSET", self.series_offset),
        ] {
            if let Some(count) = count {
                write!(f, " {keyword} {count}")?;
            }
        }
        match &self.time_zone {
            Some(zone) => write!(f, " tz({})", Quoted(zone)),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "{} AS {}", self.expr, Ident(alias)),
            None => write!(f, "{}", self.expr),
        }
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(database) = &self.database {
            write!(f, "{}.", Ident(database))?;
        }
        if let Some(retention_policy) = &self.retention_policy {
            write!(f, "{}", Ident(retention_policy))?;
        }
        if self.database.is_some() || self.retention_policy.is_some() {
            f.write_str(".")?;
        }
        match &self.name {
            MeasurementName::Name(name) => write!(f, "{}", Ident(name)),
            MeasurementName::Regex(regex) => write!(f, "{}", Regex(regex)),
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Time(interval, None) => write!(f, "time({})", format_duration(*interval)),
            Dimension::Time(interval, Some(TimeOffset::Now)) => {
                write!(f, "time({}, now())", format_duration(*interval))
            }
            Dimension::Time(interval, Some(TimeOffset::Duration(offset))) => {
                let (interval, offset) = (format_duration(*interval), format_duration(*offset));
                write!(f, "time({interval}, {offset})")
            }
            Dimension::Tag(tag) => write!(f, "{}", Ident(tag)),
            Dimension::Wildcard => f.write_str("*"),
            Dimension::Regex(regex) => write!(f, "{}", Regex(regex)),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = *self as usize;
        f.write_str([CAST_TYPES, &["field", "tag"]].concat()[index])
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef(name, None) => write!(f, "{}", Ident(name)),
            Expr::VarRef(name, Some(data_type)) => write!(f, "{}::{data_type}", Ident(name)),
            Expr::Wildcard(None) => f.write_str("*"),
            Expr::Wildcard(Some(data_type)) => write!(f, "*::{data_type}"),
            Expr::Call(name, args) => {
                let bare = name == "distinct" || is_bare_ident(name);
                if bare {
                    f.write_str(name)?
                } else {
                    write!(f, "{}", Ident(name))?
                }
                f.write_str("(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
            Expr::Distinct(name) => write!(f, "DISTINCT {}", Ident(name)),
            Expr::Binary(lhs, op, rhs) => {
                // The parser keeps parentheses as `Paren`; these only guard hand-built trees.
                let looser = |operand: &Expr, right: bool| match operand {
                    Expr::Binary(_, inner, _) => {
                        let (inner, outer) = (inner.precedence(), op.precedence());
                        inner < outer || right && inner == outer
                    }
                    _ => false,
                };
                match (looser(lhs, false), looser(rhs, true)) {
                    (false, false) => write!(f, "{lhs} {op} {rhs}"),
                    (true, false) => write!(f, "({lhs}) {op} {rhs}"),
                    (false, true) => write!(f, "{lhs} {op} ({rhs})"),
                    (true, true) => write!(f, "({lhs}) {op} ({rhs})"),
                }
            }
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Integer(value) => write!(f, "{value}"),
            Expr::Unsigned(value) => write!(f, "{value}"),
            Expr::Float(value) if value.fract() == 0.0 && value.is_finite() => {
                write!(f, "{value}.0")
            }
            Expr::Float(value) => write!(f, "{value}"),
            Expr::String(text) => write!(f, "{}", Quoted(text)),
            Expr::Boolean(value) => write!(f, "{value}"),
            Expr::Duration(nanos) => f.write_str(&format_duration(*nanos)),
            Expr::Regex(regex) => write!(f, "{}", Regex(regex)),
        }
    }
}

/// Whether `text` reads back as the same identifier unquoted.
fn is_bare_ident(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && keyword(text).is_none()
}

// -------------------------------------------------------------------------------------------------
// Time range

/// One end of a time range, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    /// The time compared against.
    pub ns: i64,
    /// `>=`, `<=` and `=` include it; `>` and `<` do not.
    pub inclusive: bool,
}

/// The times a condition selects; an absent bound is open (InfluxDB then reads from the earliest
/// time, and up to `now()` for a `GROUP BY time` query, else to the latest time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// From `time > x`, `time >= x`, `time = x`.
    pub lower: Option<TimeBound>,
    /// From `time < x`, `time <= x`, `time = x`.
    pub upper: Option<TimeBound>,
}

impl TimeRange {
    /// The first nanosecond in the range, when bounded below.
    pub fn start_ns(&self) -> Option<i64> {
        self.lower.map(|b| {
            if b.inclusive {
                b.ns
            } else {
                b.ns.saturating_add(1)
            }
        })
    }

    /// The last nanosecond in the range, when bounded above.
    pub fn end_ns(&self) -> Option<i64> {
        self.upper.map(|b| {
            if b.inclusive {
                b.ns
            } else {
                b.ns.saturating_sub(1)
            }
        })
    }

    /// Whether no time is in the range (`time > now() AND time < now() - 1h`).
    pub fn is_empty(&self) -> bool {
        matches!((self.start_ns(), self.end_ns()), (Some(start), Some(end)) if start > end)
    }

    /// The times in both ranges.
    pub fn intersect(self, other: TimeRange) -> TimeRange {
        let lower = match (self.start_ns(), other.start_ns()) {
            (None, _) => other.lower,
            (Some(mine), Some(theirs)) if theirs > mine => other.lower,
            _ => self.lower,
        };
        let upper = match (self.end_ns(), other.end_ns()) {
            (None, _) => other.upper,
            (Some(mine), Some(theirs)) if theirs < mine => other.upper,
            _ => self.upper,
        };
        TimeRange { lower, upper }
    }
}

impl SelectStatement {
    /// The statement's time range and the rest of its condition (see `time_range`).
    pub fn time_range(&self, now_ns: i64) -> Result<(TimeRange, Option<Expr>), ConditionError> {
        match &self.condition {
            Some(condition) => time_range(condition, now_ns),
            None => Ok((TimeRange::default(), None)),
        }
    }

    /// The `GROUP BY time(...)` interval in nanoseconds and its offset, when there is one.
    pub fn group_by_time(&self) -> Option<(i64, Option<TimeOffset>)> {
        self.dimensions
            .iter()
            .find_map(|dimension| match dimension {
                Dimension::Time(interval, offset) => Some((*interval, *offset)),
                _ => None,
            })
    }
}

/// Splits a `WHERE` condition into the time range its `time` comparisons select (`now()` being
/// `now_ns`) and the condition left without them, as InfluxDB 1.6 does: every time comparison
/// narrows the range, under `AND` or `OR` alike. `time` compares with `now()`, durations and
/// integers (nanoseconds since the epoch), time strings, and sums and differences of those.
pub fn time_range(
    condition: &Expr,
    now_ns: i64,
) -> Result<(TimeRange, Option<Expr>), ConditionError> {
    let (range, rest) = split_condition(condition, now_ns)?;
    let rest = match rest {
        Some(Expr::Paren(inner)) => Some(*inner),
        Some(Expr::Boolean(true)) => None,
        rest => rest,
    };
    Ok((range, rest))
}

type Split = (TimeRange, Option<Expr>);

fn split_condition(condition: &Expr, now_ns: i64) -> Result<Split, ConditionError> {
    let is_time =
        |expr: &Expr| matches!(expr, Expr::VarRef(name, _) if name.eq_ignore_ascii_case("time"));
    match condition {
        Expr::Binary(lhs, op @ (BinaryOp::And | BinaryOp::Or), rhs) => {
            let (lhs_range, lhs_rest) = split_condition(lhs, now_ns)?;
            let (rhs_range, rhs_rest) = split_condition(rhs, now_ns)?;
            let rest = match (lhs_rest, rhs_rest) {
                (Some(lhs), Some(rhs)) => Some(Expr::Binary(Box::new(lhs), *op, Box::new(rhs))),
                (lhs, rhs) => lhs.or(rhs),
            };
            Ok((lhs_range.intersect(rhs_range), rest))
        }
        Expr::Binary(lhs, op, rhs) if is_time(lhs) => {
            Ok((time_comparison(*op, rhs, now_ns)?, None))
        }
        Expr::Binary(lhs, op, rhs) if is_time(rhs) => {
            let turned = match op {
                BinaryOp::Gt => BinaryOp::Lt,
                BinaryOp::Lt => BinaryOp::Gt,
                BinaryOp::GtEq => BinaryOp::LtEq,
                BinaryOp::LtEq => BinaryOp::GtEq,
                other => *other,
            };
            Ok((time_comparison(turned, lhs, now_ns)?, None))
        }
        Expr::Binary(..) | Expr::Boolean(_) => Ok((TimeRange::default(), Some(condition.clone()))),
        Expr::Paren(inner) => {
            let (range, rest) = split_condition(inner, now_ns)?;
            Ok((range, rest.map(|rest| Expr::Paren(Box::new(rest)))))
        }
        // InfluxDB quotes an identifier here only when it must.
        Expr::VarRef(name, None) if is_bare_ident(name) => Err(ConditionError(format!(
            "invalid condition expression: {name}"
        ))),
        other => Err(ConditionError(format!(
            "invalid condition expression: {other}"
        ))),
    }
}

fn time_comparison(op: BinaryOp, value: &Expr, now_ns: i64) -> Result<TimeRange, ConditionError> {
    let (ns, is_instant) = evaluate_time(value, now_ns)?;
    let (earliest, latest) = if is_instant {
        (MIN_TIME_NS + 1, MAX_TIME_NS)
    } else {
        (i64::MIN, i64::MAX)
    };
    let Some(ns) = i64::try_from(ns)
        .ok()
        .filter(|ns| (earliest..=latest).contains(ns))
    else {
        let direction = if ns > 0 { "overflows" } else { "underflows" };
        return Err(ConditionError(format!(
            "time {} {direction} time literal",
            format_rfc3339(ns)
        )));
    };
    let bound = |inclusive| Some(TimeBound { ns, inclusive });
    Ok(match op {
        BinaryOp::Gt => TimeRange {
            lower: bound(false),
            upper: None,
        },
        BinaryOp::GtEq => TimeRange {
            lower: bound(true),
            upper: None,
        },
        BinaryOp::Lt => TimeRange {
            lower: None,
            upper: bound(false),
        },
        BinaryOp::LtEq => TimeRange {
            lower: None,
            upper: bound(true),
        },
        BinaryOp::Eq => TimeRange {
            lower: bound(true),
            upper: bound(true),
        },
        other => {
            return Err(ConditionError(format!(
                "invalid time comparison operator: {other}"
            )));
        }
    })
}

/// A time expression's value in nanoseconds, and whether it is an instant (from `now()` or a
/// time string, which InfluxDB checks against its time range) rather than a plain number.
fn evaluate_time(expr: &Expr, now_ns: i64) -> Result<(i128, bool), ConditionError> {
    let kind = match expr {
        Expr::String(text) if is_time_string(text) => {
            let invalid = || ConditionError("invalid timestamp string".to_owned());
            return parse_time_string(text)
                .map(|ns| (ns, true))
                .ok_or_else(invalid);
        }
        Expr::Call(name, args) if name == "now" && args.is_empty() => {
            return Ok((now_ns.into(), true));
        }
        Expr::Duration(value) | Expr::Integer(value) => return Ok((i128::from(*value), false)),
        Expr::Float(value) => return Ok((i128::from(*value as i64), false)),
        Expr::Paren(inner) => return evaluate_time(inner, now_ns),
        Expr::Binary(lhs, op @ (BinaryOp::Add | BinaryOp::Sub), rhs) => {
            let (lhs, lhs_instant) = evaluate_time(lhs, now_ns)?;
            let (rhs, rhs_instant) = evaluate_time(rhs, now_ns)?;
            let value = if *op == BinaryOp::Add {
                lhs + rhs
            } else {
                lhs - rhs
            };
            return Ok((value, lhs_instant || rhs_instant));
        }
        Expr::String(_) => "StringLiteral",
        Expr::Unsigned(_) => "UnsignedLiteral",
        Expr::Boolean(_) => "BooleanLiteral",
        Expr::Regex(_) => "RegexLiteral",
        Expr::VarRef(..) => "VarRef",
        Expr::Wildcard(_) => "Wildcard",
        Expr::Call(..) => "Call",
        Expr::Distinct(_) => "Distinct",
        Expr::Binary(..) => "BinaryExpr",
    };
    let message = format!("invalid operation: time and *influxql.{kind} are not compatible");
    Err(ConditionError(message))
}

/// InfluxDB's test for a time string: it starts with a `YYYY-MM-DD` date.
fn is_time_string(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 10
        && bytes[..10]
            .iter()
            .enumerate()
            .all(|(index, byte)| match index {
                4 | 7 => *byte == b'-',
                _ => byte.is_ascii_digit(),
            })
}

/// `2006-01-02`, `2006-01-02 15:04:05[.999999999]` (UTC) or RFC 3339 with up to nanoseconds, in
/// nanoseconds since the epoch.
fn parse_time_string(text: &str) -> Option<i128> {
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || !(1..=days_in_month[month as usize - 1]).contains(&day) {
        return None;
    }
    let midnight = i128::from(days_from_civil(year, month, day)) * 86_400 * NANOS_PER_SECOND;
    if text.len() == 10 {
        return Some(midnight);
    }
    let separator = text.as_bytes()[10];
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let well_formed =
        matches!(separator, b' ' | b'T') && text.get(13..14)? == ":" && text.get(16..17)? == ":";
    if !well_formed || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut fraction: i128 = 0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(after_dot.len());
        if !(1..=9).contains(&digits) {
            return None;
        }
        fraction = after_dot[..digits].parse::<i128>().ok()? * 10_i128.pow(9 - digits as u32);
        rest = &after_dot[digits..];
    }
    let offset_seconds = match (separator, rest.as_bytes()) {
        (b' ', []) | (b'T', [b'Z']) => 0,
        (b'T', [sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if *sign == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let seconds = hour * 3600 + minute * 60 + second - offset_seconds;
    Some(midnight + i128::from(seconds) * NANOS_PER_SECOND + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let (era, year_of_era) = (year.div_euclid(400), year.rem_euclid(400));
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// RFC 3339 in UTC to the second, as InfluxDB writes range errors.
fn format_rfc3339(ns: i128) -> String {
    let (year, month, day, hour, minute, second) =
        civil_from_seconds(ns.div_euclid(NANOS_PER_SECOND) as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// A time in seconds since the epoch as UTC year, month, day, hour, minute, second (Howard
/// Hinnant's `civil_from_days`, which holds for every year InfluxDB's times reach).
pub(crate) fn civil_from_seconds(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, second_of_day) = (
        seconds.div_euclid(86_400) + 719_468,
        seconds.rem_euclid(86_400),
    );
    let (era, day_of_era) = (days.div_euclid(146_097), days.rem_euclid(146_097));
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_NS: i64 = 1_733_586_400_000_000_000;
    const HOUR_NS: i64 = 3_600_000_000_000;

    fn select(text: &str) -> SelectStatement {
        match parse(text).as_deref() {
            Ok([Statement::Select(select)]) => select.clone(),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn condition(text: &str) -> Expr {
        select(&format!("SELECT * FROM m WHERE {text}"))
            .condition
            .unwrap()
    }

    fn split(text: &str) -> (TimeRange, Option<String>) {
        let (range, rest) = time_range(&condition(text), NOW_NS).unwrap();
        (range, rest.map(|rest| rest.to_string()))
    }

    fn var(name: &str) -> Expr {
        Expr::VarRef(name.to_owned(), None)
    }

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(name.to_owned(), args)
    }

    fn binary(lhs: Expr, op: BinaryOp, rhs: Expr) -> Expr {
        Expr::Binary(Box::new(lhs), op, Box::new(rhs))
    }

    /// What Grafana's query builder (`$timeFilter` and `$__interval` substituted), Chronograf and
    /// Telegraf send, and the other forms the renderer must write back: one query a line.
    const QUERIES: &str = r#"
SELECT mean("value") FROM "autogen"."cpu" WHERE time >= now() - 6h GROUP BY time(1m) fill(null)
SELECT mean("value") FROM "5m_avg"."cpu" WHERE time >= 1733500000000ms and time <= 1733586400000ms GROUP BY time(10s) fill(null)
SELECT mean("value") /100 AS "text" FROM "autogen"."cpu" WHERE time >= now() - 1h GROUP BY time(20s) fill(null)
SELECT mean("value") FROM "autogen"."cpu" WHERE ("hostname" = 'server\\1') AND time >= now() - 1h GROUP BY time(1m)
SELECT mean("value") FROM "autogen"."cpu" WHERE ("app" =~ /e.*/) AND time >= now() - 1h GROUP BY time(1m)
SELECT mean("value") FROM "cpu" WHERE ("hostname" = 'server1' AND "app" = 'email') AND time >= now() - 1h GROUP BY time(1m)
SELECT mean("value") FROM "cpu" WHERE ("hostname" = 'server1' OR "hostname" = 'server2') AND time >= now() - 1h GROUP BY time(1m)
SELECT mean("value") FROM "cpu" WHERE ("name" = 'Let\'s encrypt.' OR "hostname" = 'server2') AND time > now() - 5m GROUP BY time(1m)
SELECT mean("value") FROM "autogen"."cpu" WHERE ("value" > 5) AND time >= now() - 15m
SELECT mean("value") FROM "autogen"."cpu" WHERE time >= now() - 1h GROUP BY time(1m), "host"
SELECT "value" FROM "autogen"."cpu" WHERE time >= now() - 1h GROUP BY time(1m) fill(0)
SELECT non_negative_derivative(mean("bytes_recv"), 1s) * 8 AS "in" FROM "net" WHERE "host" =~ /^web-\d+$/ AND time >= now() - 6h GROUP BY time(30s), "interface" fill(none)
SELECT percentile("usage_idle", 95) FROM "cpu" WHERE time >= now() - 1d GROUP BY time(5m) fill(previous)
SELECT derivative(max("uptime"), 10s), difference(last("n")) FROM "system" WHERE time > now() - 2w GROUP BY time(1h)
SELECT count("v"), sum("v"), median("v"), min("v"), max("v"), first("v"), last("v"), spread("v"), stddev("v"), mode("v") FROM "cpu"
SELECT distinct("host") FROM "cpu"; SELECT DISTINCT host FROM cpu
SELECT * FROM "cpu" WHERE time > 1700000000000ms ORDER BY time DESC LIMIT 10
SELECT "usage"::float, "host"::tag, *::field FROM "cpu" ORDER BY time
SELECT mean("x") FROM /^cpu/ WHERE time <= '2026-12-07T10:00:00Z' GROUP BY *
SELECT mean("x") FROM "telegraf"."autogen"."cpu", "mem", "db".."disk", "rp"./^net/ WHERE time >= 1700000000s and time <= now()
SELECT last("x") FROM "cpu" GROUP BY time(1h, 30m) fill(linear) LIMIT 5 OFFSET 2 SLIMIT 3 SOFFSET 1 tz('Europe/Paris')
SELECT mean("x") FROM "cpu" WHERE "host" !~ /^test/ AND "dc" <> 'eu' AND "region" != 'x' AND "up" = true
SELECT moving_average(mean("x"), 10) FROM "cpu" WHERE time > now() - 1h GROUP BY time(1m, -15s) fill(-1.5)
SELECT mean("x") * 2.5 + 1, ("a" + "b") / 2 % 3, -"c", 1 - -2, 3 & 1 | 4 ^ 2 FROM "m"
SELECT top("value", "host", 3), bottom("value", 2) AS "low" FROM "cpu" WHERE time > now() - 1h
SELECT mean(/usage/), count(*) FROM "cpu" GROUP BY /ho.*/, time(1m, now())
SELECT "value" FROM "cpu" WHERE "host" = 'it\'s' AND "path" =~ /\/var\/log/ AND "q" = 'a"b\\c'
SELECT "my \"quoted\" field" AS "a\\b" FROM "weird measurement" WHERE "tag key" = 'new\nline'
select MEAN(value) from cpu where time > now() - 1h and host = 'a' or host = 'b' group by time(1m) FILL(null) order by time asc
SELECT mean("x") FROM "cpu" WHERE "v" >= -5 AND "v" < .5 AND "w" <= 10. AND "u" > 18446744073709551615
SHOW MEASUREMENTS LIMIT 100
SHOW MEASUREMENTS WITH MEASUREMENT =~ /something/ WHERE "app" = 'email' LIMIT 100
SHOW MEASUREMENTS WITH MEASUREMENT =~ /abc\/edf\// LIMIT 100
SHOW MEASUREMENTS ON "telegraf" WITH MEASUREMENT = "cpu" OFFSET 5
SHOW TAG KEYS FROM "cpu"; SHOW TAG KEYS FROM /.*/; SHOW TAG KEYS WHERE "host" = 'se1'
SHOW TAG VALUES WITH KEY = "app"; SHOW TAG VALUES FROM "one_week"."cpu" WITH KEY = "app" WHERE "host" = 'server1'
SHOW TAG VALUES ON "db" FROM "cpu" WITH KEY IN ("host", "region") LIMIT 10; SHOW TAG VALUES WITH KEY =~ /^h/
SHOW TAG VALUES WITH KEY != "a"; SHOW TAG VALUES WITH KEY !~ /b/ WHERE time > now() - 1h
SHOW FIELD KEYS FROM "cpu"; SHOW FIELD KEYS FROM /$var/; SHOW FIELD KEYS ON "db"
SHOW RETENTION POLICIES on "site"; SHOW RETENTION POLICIES; SHOW DATABASES
CREATE DATABASE "telegraf"
SELECT mean("a") FROM "x"; SELECT mean("b") FROM "y";
"#;

    #[test]
    fn rendered_queries_parse_back_to_the_same_statements() {
        for query in QUERIES.lines().filter(|line| !line.is_empty()) {
            let statements = parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
            let rendered = render(&statements);
            let reparsed = parse(&rendered).unwrap_or_else(|error| panic!("{rendered}: {error}"));
            assert_eq!(reparsed, statements, "{query}\n{rendered}");
            assert_eq!(render(&reparsed), rendered, "{query}");
        }
    }

    #[test]
    fn the_grafana_builder_query_reads_into_its_clauses() {
        let select = select(
            r#"SELECT mean("value") FROM "autogen"."cpu" WHERE ("host" =~ /^web/) AND time >= now() - 6h GROUP BY time(1m), "host" fill(null)"#,
        );
        let field = Field {
            expr: call("mean", vec![var("value")]),
            alias: None,
        };
        assert_eq!(select.fields, vec![field]);
        let (retention_policy, name) =
            (Some("autogen".into()), MeasurementName::Name("cpu".into()));
        assert_eq!(
            select.sources,
            vec![Measurement {
                database: None,
                retention_policy,
                name
            }]
        );
        let minute = 60_000_000_000;
        let host = Dimension::Tag("host".to_owned());
        assert_eq!(select.dimensions, vec![Dimension::Time(minute, None), host]);
        assert_eq!(select.fill, Some(Fill::Null));
        assert_eq!(select.group_by_time(), Some((minute, None)));
    }

    #[test]
    fn the_renderer_writes_canonical_influxql() {
        let text = "select MEAN(value)/100 as v from cpu where host <> 'a' and time > now()-1h \
            group by time(60s) fill(0) order by time desc";
        let expected = r#"SELECT mean("value") / 100 AS "v" FROM "cpu" WHERE "host" != 'a' AND "time" > now() - 1h GROUP BY time(1m) fill(0) ORDER BY time DESC"#;
        assert_eq!(select(text).to_string(), expected);
        let expected = r#"SELECT 2.0, 0.5, -3.0, "e" FROM "db".."m""#;
        assert_eq!(
            select("SELECT 2., .5, -3.0, e FROM db..m").to_string(),
            expected
        );
    }

    #[test]
    fn a_nested_derivative_keeps_its_inner_call_and_unit() {
        let select = select(r#"SELECT non_negative_derivative(mean("bytes"), 1s) * 8 FROM "net""#);
        let mean = call("mean", vec![var("bytes")]);
        let derivative = call(
            "non_negative_derivative",
            vec![mean, Expr::Duration(1_000_000_000)],
        );
        assert_eq!(
            select.fields[0].expr,
            binary(derivative, BinaryOp::Mul, Expr::Integer(8))
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_are_kept() {
        let a = binary(var("a"), BinaryOp::Eq, Expr::Integer(1));
        let b = binary(var("b"), BinaryOp::Eq, Expr::Integer(2));
        let c = binary(var("c"), BinaryOp::Eq, Expr::Integer(3));
        let and = binary(b.clone(), BinaryOp::And, c.clone());
        assert_eq!(
            condition("a = 1 OR b = 2 AND c = 3"),
            binary(a.clone(), BinaryOp::Or, and)
        );
        let or = Expr::Paren(Box::new(binary(a, BinaryOp::Or, b)));
        assert_eq!(
            condition("(a = 1 OR b = 2) AND c = 3"),
            binary(or, BinaryOp::And, c)
        );
        let x_minus_1 = binary(var("x"), BinaryOp::Sub, Expr::Integer(1));
        let expected = binary(x_minus_1, BinaryOp::Sub, Expr::Integer(2));
        assert_eq!(select("SELECT x - 1 - 2 FROM m").fields[0].expr, expected);
    }

    #[test]
    fn a_hand_built_tree_is_written_with_the_parentheses_it_needs() {
        let or = binary(var("a"), BinaryOp::Or, var("b"));
        let difference = binary(var("d"), BinaryOp::Sub, var("e"));
        let expr = binary(
            or,
            BinaryOp::And,
            binary(var("c"), BinaryOp::Sub, difference),
        );
        assert_eq!(expr.to_string(), r#"("a" OR "b") AND "c" - ("d" - "e")"#);
    }

    #[test]
    fn quotes_escapes_and_regex_slashes_are_read_and_written() {
        let text = r#"SELECT "say \"hi\"" FROM m WHERE "k" = 'it\'s \\ \n' AND "p" =~ /a\/b\d/"#;
        let select = select(text);
        assert_eq!(select.fields[0].expr, var("say \"hi\""));
        let string = binary(
            var("k"),
            BinaryOp::Eq,
            Expr::String("it's \\ \n".to_owned()),
        );
        let regex = binary(
            var("p"),
            BinaryOp::EqRegex,
            Expr::Regex(r"a/b\d".to_owned()),
        );
        assert_eq!(select.condition, Some(binary(string, BinaryOp::And, regex)));
        let written = r#"WHERE "k" = 'it\'s \\ \n' AND "p" =~ /a\/b\d/"#;
        assert!(select.to_string().ends_with(written));
    }

    #[test]
    fn several_statements_are_read_in_order() {
        let statements = parse("SHOW DATABASES;;CREATE DATABASE \"telegraf\" ;\nSELECT * FROM m;");
        let statements = statements.unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(
            statements[1],
            Statement::CreateDatabase("telegraf".to_owned())
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse(" ; -- nothing\n"), Ok(vec![]));
    }

    #[test]
    fn comments_and_keyword_case_do_not_matter() {
        let text = "/* panel 1 */ select\tmean(value) -- the mean\r\nFROM cpu";
        assert_eq!(select(text), select(r#"SELECT mean("value") FROM "cpu""#));
    }

    #[test]
    fn signs_and_large_integers_read_as_influxdb_reads_them() {
        let text = "SELECT -5, -1.5, -1h, -x, 9223372036854775808, -9223372036854775808 FROM m";
        let exprs: Vec<Expr> = select(text)
            .fields
            .into_iter()
            .map(|field| field.expr)
            .collect();
        let expected = [
            Expr::Integer(-5),
            Expr::Float(-1.5),
            Expr::Duration(-HOUR_NS),
            binary(Expr::Integer(-1), BinaryOp::Mul, var("x")),
            Expr::Unsigned(1 << 63),
            Expr::Integer(i64::MIN),
        ];
        assert_eq!(exprs, expected);
    }

    /// InfluxDB 1.6's own parser tests and answers, one `query => message` a line (`\n` in a
    /// query is a newline); a list of what is expected names only what is supported here.
    const ERRORS: &str = r#"
SELECT => found EOF, expected identifier, string, number, bool at line 1, char 8
blah blah => found blah, expected SELECT, SHOW, CREATE at line 1, char 1
SELECT field1 X => found X, expected FROM at line 1, char 15
SELECT field1 FROM "series" WHERE X +; => found ;, expected identifier, string, number, bool at line 1, char 38
SELECT field1 FROM myseries GROUP => found EOF, expected BY at line 1, char 35
SELECT field1 FROM myseries LIMIT => found EOF, expected integer at line 1, char 35
SELECT field1 FROM myseries LIMIT 10.5 => found 10.5, expected integer at line 1, char 35
SELECT field1 FROM myseries OFFSET => found EOF, expected integer at line 1, char 36
SELECT field1 FROM myseries ORDER => found EOF, expected BY at line 1, char 35
SELECT field1 FROM myseries ORDER BY => found EOF, expected identifier, ASC, DESC at line 1, char 38
SELECT field1 FROM myseries ORDER BY / => found /, expected identifier, ASC, DESC at line 1, char 38
SELECT field1 FROM myseries ORDER BY 1 => found 1, expected identifier, ASC, DESC at line 1, char 38
SELECT field1 FROM myseries ORDER BY time ASC, => found EOF, expected identifier at line 1, char 47
SELECT field1 FROM myseries ORDER BY time, field1 => only ORDER BY time supported at this time
SELECT field1 AS => found EOF, expected identifier at line 1, char 18
SELECT field1 FROM 12 => found 12, expected identifier at line 1, char 20
SELECT 10.5h FROM myseries => found h, expected FROM at line 1, char 12
SELECT distinct FROM myseries => found FROM, expected identifier at line 1, char 17
SELECT count(distinct) FROM myseries => found ), expected (, identifier at line 1, char 22
SELECT field1 from myseries WHERE host =~ 'asd' LIMIT 1 => found asd, expected regex at line 1, char 42
SELECT value > 2 FROM cpu => invalid operator > in SELECT clause at line 1, char 8; operator is intended for WHERE clause
SELECT s =~ /foo/ FROM cpu => invalid operator =~ in SELECT clause at line 1, char 8; operator is intended for WHERE clause
SELECT mean(value) FROM cpu FILL + value => fill must be a function call
SELECT mean(value) FROM cpu fill(x) => expected number argument in fill()
SHOW RETENTION => found EOF, expected POLICIES at line 1, char 16
SHOW RETENTION ON => found ON, expected POLICIES at line 1, char 16
SHOW RETENTION POLICIES ON => found EOF, expected identifier at line 1, char 28
SHOW SERIES => found SERIES, expected DATABASES, FIELD, MEASUREMENTS, RETENTION, TAG at line 1, char 6
CREATE DATABASE => found EOF, expected identifier at line 1, char 17
CREATE DATABASE foo CREATE DATABASE bar => found CREATE, expected ; at line 1, char 21
SELECT * FROM cpu WHERE "tagkey" = $$ => empty bound parameter
SELECT * FROM cpu WHERE $timeFilter => missing parameter: timeFilter
SELECT value FROM cpu WHERE name = 'x' => found NAME, expected identifier, string, number, bool at line 1, char 29
SELECT "value" => found EOF, expected FROM at line 1, char 15
SELECT mean( => found EOF, expected identifier, string, number, bool at line 1, char 14
SELECT * FROM "db". => found EOF, expected identifier at line 1, char 21
SELECT a, => found EOF, expected identifier, string, number, bool at line 1, char 11
SELECT *\nFROM cpu\nWHERE x = 'a => found a, expected identifier, string, number, bool at line 3, char 10
SELECT * FROM cpu WHERE x = 'a\qb' => found \q, expected identifier, string, number, bool at line 1, char 32
SELECT * FROM cpu WHERE x =~ /a => bad regex:  at line 1, char 29
SELECT * FROM '' => found STRING, expected identifier at line 1, char 14
SELECT 10x FROM m => invalid duration
SELECT 1000000000000000000000 FROM m => unable to parse integer at line 1, char 8
SELECT * FROM a.b.c.d => too many segments in "a"."b"."c".d at line 1, char 1
SELECT * FROM m GROUP BY time => time() is a function and expects at least one argument
SELECT * FROM m GROUP BY time(1m), time(5m) => multiple time dimensions not allowed
SELECT * FROM m GROUP BY time('x') => time dimension must have duration argument
SELECT * FROM m GROUP BY 'x' => only time and tag dimensions allowed
SELECT * FROM m tz(1) => expected string argument in tz()
SHOW TAG VALUES FROM m => found EOF, expected WITH at line 1, char 24
SHOW TAG VALUES WITH KEY => found EOF, expected IN, =, =~ at line 1, char 26
SHOW TAG VALUES WITH KEY IN (a, => found EOF, expected identifier at line 1, char 32
SHOW FIELD KEYS WHERE a = 1 => found WHERE, expected ; at line 1, char 17
SELECT * INTO x FROM m => found INTO, expected FROM at line 1, char 10
"#;

    #[test]
    fn parse_errors_read_as_influxdb_1_6_writes_them() {
        for line in ERRORS.lines().filter(|line| !line.is_empty()) {
            let (query, message) = line.split_once(" => ").unwrap();
            let query = query.replace("\\n", "\n");
            let error = parse(&query).expect_err(&query).to_string();
            assert_eq!(error, format!("error parsing query: {message}"), "{query}");
        }
    }

    #[test]
    fn durations_read_every_unit_and_write_the_largest() {
        let cases = [
            ("1h30m", 90 * 60_000_000_000),
            ("10µ", 10_000),
            ("7u", 7_000),
            ("5ns", 5),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_duration(text), Ok(nanos), "{text}");
        }
        assert_eq!(parse_duration("2w"), Ok(14 * 24 * HOUR_NS));
        assert_eq!(
            parse_duration("1700000000000ms"),
            Ok(1_700_000_000_000_000_000)
        );
        for text in ["10us", "1n", "5", "h"] {
            assert_eq!(
                parse_duration(text),
                Err("invalid duration".to_owned()),
                "{text}"
            );
        }
        assert!(
            parse_duration("99999999999w")
                .unwrap_err()
                .starts_with("overflowed duration")
        );
        assert_eq!(format_duration(90_000_000_000), "90s");
        assert_eq!(format_duration(-HOUR_NS), "-1h");
        assert_eq!(format_duration(1_500), "1500ns");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn time_conditions_become_a_range_and_the_rest_stays() {
        let (range, rest) = split("time >= now() - 6h and time <= now()");
        assert_eq!(
            range.lower,
            Some(TimeBound {
                ns: NOW_NS - 6 * HOUR_NS,
                inclusive: true
            })
        );
        assert_eq!(
            range.upper,
            Some(TimeBound {
                ns: NOW_NS,
                inclusive: true
            })
        );
        assert_eq!(rest, None);

        let (range, _) = split("time >= 1733500000000ms and time <= 1733586400000ms");
        let start = 1_733_500_000_000_000_000;
        assert_eq!(
            (range.start_ns(), range.end_ns()),
            (Some(start), Some(NOW_NS))
        );

        let (range, _) = split("time > 1700000000000ms AND time < 1700000000s + 1h");
        let epoch = 1_700_000_000_000_000_000;
        assert_eq!(
            range.lower,
            Some(TimeBound {
                ns: epoch,
                inclusive: false
            })
        );
        assert_eq!(
            (range.start_ns(), range.end_ns()),
            (Some(epoch + 1), Some(epoch + HOUR_NS - 1))
        );

        let (range, _) = split("time <= '2026-12-07T10:00:00Z'");
        let ns = 1_796_637_600 * 1_000_000_000;
        assert_eq!(
            range,
            TimeRange {
                lower: None,
                upper: Some(TimeBound {
                    ns,
                    inclusive: true
                })
            }
        );
    }

    #[test]
    fn the_rest_of_a_condition_keeps_its_tag_filters() {
        let (range, rest) = split(r#"("host" = 'a' OR "host" = 'b') AND time > now() - 1h"#);
        assert_eq!(range.start_ns(), Some(NOW_NS - HOUR_NS + 1));
        assert_eq!(rest.unwrap(), r#""host" = 'a' OR "host" = 'b'"#);
        let (_, rest) = split(r#""host" = 'a' AND time > 0 AND ("dc" = 'eu' AND time < now())"#);
        assert_eq!(rest.unwrap(), r#""host" = 'a' AND ("dc" = 'eu')"#);
    }

    #[test]
    fn time_on_the_right_is_turned_around() {
        let (range, _) = split("now() - 1h < time");
        assert_eq!(
            range.lower,
            Some(TimeBound {
                ns: NOW_NS - HOUR_NS,
                inclusive: false
            })
        );
    }

    #[test]
    fn time_under_or_narrows_the_range_as_in_influxdb() {
        let (range, rest) = split("time = '2020-07-31T20:07:00Z' OR time = '2020-07-31T23:07:17Z'");
        assert!(range.is_empty());
        assert_eq!(rest, None);
        let (range, rest) = split(r#""host" = 'a' OR time > now() - 1h"#);
        assert_eq!(range.start_ns(), Some(NOW_NS - HOUR_NS + 1));
        assert_eq!(rest.unwrap(), r#""host" = 'a'"#);
    }

    #[test]
    fn time_strings_read_in_every_influxdb_form() {
        let midnight = 1_577_836_800 * 1_000_000_000;
        for (text, expected) in [
            ("'2020-01-01'", midnight),
            ("'2020-01-01 00:00:00.5'", midnight + 500_000_000),
            ("'2020-01-01T01:00:00+01:00'", midnight),
            ("'2020-01-01T00:00:00.000000001Z'", midnight + 1),
        ] {
            let (range, _) = split(&format!("time >= {text}"));
            assert_eq!(range.start_ns(), Some(expected), "{text}");
        }
    }

    #[test]
    fn conditions_influxdb_refuses_are_refused_with_its_messages() {
        let cases = [
            ("time != now()", "invalid time comparison operator: !="),
            (
                "time >= 'today'",
                "invalid operation: time and *influxql.StringLiteral are not compatible",
            ),
            ("time >= '2020-13-01'", "invalid timestamp string"),
            (
                "time > '2262-04-11 23:47:17'",
                "time 2262-04-11T23:47:17Z overflows time literal",
            ),
            (
                "time > '1677-09-21T00:12:43Z'",
                "time 1677-09-21T00:12:43Z underflows time literal",
            ),
            (
                "time > other",
                "invalid operation: time and *influxql.VarRef are not compatible",
            ),
            (
                "host = 'a' AND value",
                "invalid condition expression: value",
            ),
        ];
        for (text, message) in cases {
            let result = time_range(&condition(text), NOW_NS);
            assert_eq!(result, Err(ConditionError(message.to_owned())), "{text}");
        }
    }

    #[test]
    fn a_statement_without_where_has_an_open_range() {
        let statement = select("SELECT * FROM m");
        assert_eq!(
            statement.time_range(NOW_NS),
            Ok((TimeRange::default(), None))
        );
        assert_eq!(statement.group_by_time(), None);
    }
}
