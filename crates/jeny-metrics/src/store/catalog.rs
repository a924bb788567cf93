//! The series catalog: every series the store has seen, its id (its place in the file), its type,
//! and the indexes a query walks (database → measurement → field types and tag → series). It is
//! one append-only file, `series.dat`, read front to back at start (a sequential read: 1,000,000
//! series load in about a second). A series is written there, and synced, before the first WAL
//! record that names it; a torn record at the end was never acknowledged and is cut off.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use super::FieldType;

/// An interned string's number.
pub type Sym = u32;

/// Strings stored once: tag keys and values repeat across a host's fields and across hosts.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub fn name(&self, id: Sym) -> &str {
        &self.names[id as usize]
    }
}

/// One series: a database (jeny's project), a measurement, sorted tags and one field.
#[derive(Debug, Clone)]
pub struct Series {
    pub db: Sym,
    pub measurement: Sym,
    pub tags: Box<[(Sym, Sym)]>,
    pub field: Sym,
    pub ty: FieldType,
}

/// A measurement's index: its fields' types and, per tag key and value, its series.
#[derive(Default)]
pub struct Measurement {
    pub fields: BTreeMap<Box<str>, FieldType>,
    pub tags: BTreeMap<Box<str>, BTreeMap<Box<str>, Vec<u32>>>,
    pub series: Vec<u32>,
}

/// A database's index.
#[derive(Default)]
pub struct Database {
    pub measurements: BTreeMap<Box<str>, Measurement>,
    pub series: u64,
}

/// The catalog in memory and its file.
pub struct Catalog {
    file: File,
    pub syms: Interner,
    pub series: Vec<Series>,
    /// series key → id; keys come from the catalog and from authorized writers, so a fast
    /// hash without flooding resistance is enough (the series limit bounds the map)
    by_key: rustc_hash::FxHashMap<Box<[u8]>, u32>,
    pub databases: HashMap<Box<str>, Database>,
    /// records written since the last sync
    unsynced: bool,
    /// the file's length, what a failed append is cut back to
    len: u64,
}

/// A series key's bytes: each part length-prefixed, so no escaping and no ambiguity.
pub fn key(out: &mut Vec<u8>, db: &str, measurement: &str, tags: &[(String, String)]) {
    out.clear();
    for s in [db, measurement] {
        push_str(out, s);
    }
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (k, v) in tags {
        push_str(out, k);
        push_str(out, v);
    }
}

/// A field added to a series key made by `key`.
pub fn with_field(out: &mut Vec<u8>, prefix_len: usize, field: &str) {
    out.truncate(prefix_len);
    push_str(out, field);
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn read_str<'a>(src: &mut &'a [u8]) -> Option<&'a str> {
    let n = u32::from_le_bytes(src.get(..4)?.try_into().ok()?) as usize;
    let s = std::str::from_utf8(src.get(4..4 + n)?).ok()?;
    *src = &src[4 + n..];
    Some(s)
}

impl Catalog {
    /// Opens `series.dat` in `dir`, loading every whole record and cutting off a torn end.
    pub fn open(dir: &Path) -> io::Result<Catalog> {
        let path = dir.join("series.dat");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let mut catalog = Catalog {
            file,
            syms: Interner::default(),
            series: Vec::new(),
            by_key: rustc_hash::FxHashMap::default(),
            databases: HashMap::new(),
            unsynced: false,
            len: 0,
        };
        let mut off = 0;
        while let Some((payload, next)) = super::wal::next_record(&buf, off) {
            let Some(s) = catalog.decode(payload) else {
                break;
            };
            catalog.insert(payload[1..].into(), s);
            off = next;
        }
        if off < buf.len() {
            catalog.file.set_len(off as u64)?;
            catalog.file.sync_data()?;
        }
        catalog.len = off as u64;
        Ok(catalog)
    }

    fn decode(&mut self, payload: &[u8]) -> Option<Series> {
        let ty = FieldType::from_u8(*payload.first()?)?;
        let mut p = &payload[1..];
        let db = self.syms.intern(read_str(&mut p)?);
        let measurement = self.syms.intern(read_str(&mut p)?);
        let n = u16::from_le_bytes(p.get(..2)?.try_into().ok()?);
        p = &p[2..];
        let mut tags = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let k = read_str(&mut p)?;
            let v = read_str(&mut p)?;
            tags.push((self.syms.intern(k), self.syms.intern(v)));
        }
        let field = self.syms.intern(read_str(&mut p)?);
        p.is_empty().then_some(Series {
            db,
            measurement,
            tags: tags.into(),
            field,
            ty,
        })
    }

    fn insert(&mut self, key: Box<[u8]>, s: Series) -> u32 {
        let id = self.series.len() as u32;
        let db = self
            .databases
            .entry(self.syms.name(s.db).into())
            .or_default();
        db.series += 1;
        let m = db
            .measurements
            .entry(self.syms.name(s.measurement).into())
            .or_default();
        m.fields
            .entry(self.syms.name(s.field).into())
            .or_insert(s.ty);
        for &(k, v) in s.tags.iter() {
            m.tags
                .entry(self.syms.name(k).into())
                .or_default()
                .entry(self.syms.name(v).into())
                .or_default()
                .push(id);
        }
        m.series.push(id);
        self.by_key.insert(key, id);
        self.series.push(s);
        id
    }

    /// A series' id, if it exists (`key` from `key` and `with_field`).
    pub fn lookup(&self, key: &[u8]) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// A field's type in a measurement, fixed by its first write.
    pub fn field_type(&self, db: &str, measurement: &str, field: &str) -> Option<FieldType> {
        self.databases
            .get(db)?
            .measurements
            .get(measurement)?
            .fields
            .get(field)
            .copied()
    }

    /// How many series a database has.
    pub fn series_count(&self, db: &str) -> u64 {
        self.databases.get(db).map_or(0, |d| d.series)
    }

    /// Adds a series: its record is appended to the file (synced by `sync`, before the WAL record
    /// that names it) and it is indexed.
    pub fn create(
        &mut self,
        key_bytes: &[u8],
        db: &str,
        measurement: &str,
        tags: &[(String, String)],
        field: &str,
        ty: FieldType,
    ) -> io::Result<u32> {
        let mut payload = Vec::with_capacity(1 + key_bytes.len());
        payload.push(ty as u8);
        payload.extend_from_slice(key_bytes);
        let mut record = Vec::with_capacity(payload.len() + 8);
        super::wal::push_record(&mut record, &payload);
        if let Err(e) = self.file.write_all(&record) {
            // a partial record would hide every later one: cut it off
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += record.len() as u64;
        self.unsynced = true;
        let s = Series {
            db: self.syms.intern(db),
            measurement: self.syms.intern(measurement),
            tags: tags
                .iter()
                .map(|(k, v)| (self.syms.intern(k), self.syms.intern(v)))
                .collect(),
            field: self.syms.intern(field),
            ty,
        };
        Ok(self.insert(key_bytes.into(), s))
    }

    /// Makes the series added since the last call durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// A series' tags as text.
    pub fn tags(&self, id: u32) -> Vec<(String, String)> {
        self.series[id as usize]
            .tags
            .iter()
            .map(|&(k, v)| (self.syms.name(k).into(), self.syms.name(v).into()))
            .collect()
    }

    /// The tag key with the most values in a measurement: what a series limit names as the
    /// likely cause.
    pub fn widest_tag(&self, db: &str, measurement: &str) -> Option<String> {
        let m = self.databases.get(db)?.measurements.get(measurement)?;
        m.tags
            .iter()
            .max_by_key(|(_, values)| values.len())
            .map(|(k, _)| k.to_string())
    }
}
