//! Deterministic synthetic host metrics, the same for every candidate.
//!
//! Telegraf-like inputs (cpu, mem, disk, diskio, net, system, processes, swap): 55 fields per
//! host, each field of each host one series (measurement + sorted tags + field). A point is one
//! field value at one time (what the 6,048,000 points of the 7-day query count). Values are
//! generated the way the real ones arise: cpu percentages are tick ratios (full-mantissa floats),
//! memory figures move by whole KiB, counters only grow, load averages have two decimals, and
//! totals and zero counters rarely or never change.

pub const INTERVAL_MS: i64 = 10_000;
pub const DAY_MS: i64 = 86_400_000;
pub const POINTS_PER_DAY: usize = (DAY_MS / INTERVAL_MS) as usize;

/// A typed field value, as line protocol has them (strings and booleans are not generated:
/// host metrics are numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum V {
    F(f64),
    I(i64),
    U(u64),
}

impl V {
    pub fn as_f64(self) -> f64 {
        match self {
            V::F(v) => v,
            V::I(v) => v as f64,
            V::U(v) => v as f64,
        }
    }
    pub fn bits(self) -> u64 {
        match self {
            V::F(v) => v.to_bits(),
            V::I(v) => v as u64,
            V::U(v) => v,
        }
    }
    pub fn tag(self) -> u8 {
        match self {
            V::F(_) => 0,
            V::I(_) => 1,
            V::U(_) => 2,
        }
    }
    pub fn from_bits(tag: u8, bits: u64) -> V {
        match tag {
            0 => V::F(f64::from_bits(bits)),
            1 => V::I(bits as i64),
            _ => V::U(bits),
        }
    }
}

/// splitmix64: small, fast, deterministic.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// uniform in [0, 1)
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// roughly standard normal (Irwin–Hall of 4)
    pub fn gauss(&mut self) -> f64 {
        (self.f() + self.f() + self.f() + self.f() - 2.0) * 1.732
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Ty {
    F,
    I,
    U,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// 100 * busy ticks / total ticks over 10 s, the busy share wandering around `mean` (percent)
    CpuPct(f64),
    /// a float that is always 0 (steal, guest on a bare VM)
    ZeroF,
    /// never changes (times the host's size)
    Const(u64),
    /// a gauge wandering by `sd` quanta of `q` per sample around `base`
    Walk { base: u64, sd: f64, q: u64 },
    /// a gauge that changes with probability `p` per sample by up to `max` quanta of `q`
    Step { base: u64, p: f64, max: u64, q: u64 },
    /// a counter growing by about `rate` per sample (jitter ±`jit` fraction); `p` the chance
    /// that it moves at all (error counters)
    Counter { rate: f64, jit: f64, p: f64 },
    /// a percentage of the host's memory or disk that wanders (full-mantissa float)
    Pct { mean: f64, sd: f64 },
    /// a percentage that changes rarely
    PctStep { mean: f64, p: f64 },
    /// a load average: two decimals, mean-reverting
    Load(f64),
}

pub struct FieldSpec {
    pub measurement: &'static str,
    pub tag: (&'static str, &'static str),
    pub field: &'static str,
    pub ty: Ty,
    pub kind: Kind,
}

const fn f(
    measurement: &'static str,
    tag: (&'static str, &'static str),
    field: &'static str,
    ty: Ty,
    kind: Kind,
) -> FieldSpec {
    FieldSpec {
        measurement,
        tag,
        field,
        ty,
        kind,
    }
}

const GIB: u64 = 1 << 30;

pub static FIELDS: &[FieldSpec] = &[
    // cpu (cpu=cpu-total): 10
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_user",
        Ty::F,
        Kind::CpuPct(12.0),
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_system",
        Ty::F,
        Kind::CpuPct(4.0),
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_idle",
        Ty::F,
        Kind::CpuPct(82.0),
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_iowait",
        Ty::F,
        Kind::CpuPct(0.8),
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_softirq",
        Ty::F,
        Kind::CpuPct(0.3),
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_nice",
        Ty::F,
        Kind::CpuPct(0.02),
    ),
    f("cpu", ("cpu", "cpu-total"), "usage_irq", Ty::F, Kind::ZeroF),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_steal",
        Ty::F,
        Kind::ZeroF,
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_guest",
        Ty::F,
        Kind::ZeroF,
    ),
    f(
        "cpu",
        ("cpu", "cpu-total"),
        "usage_guest_nice",
        Ty::F,
        Kind::ZeroF,
    ),
    // mem: 8
    f("mem", ("", ""), "total", Ty::I, Kind::Const(8 * GIB)),
    f(
        "mem",
        ("", ""),
        "available",
        Ty::I,
        Kind::Walk {
            base: 5 * GIB,
            sd: 3000.0,
            q: 1024,
        },
    ),
    f(
        "mem",
        ("", ""),
        "used",
        Ty::I,
        Kind::Walk {
            base: 3 * GIB,
            sd: 3000.0,
            q: 1024,
        },
    ),
    f(
        "mem",
        ("", ""),
        "free",
        Ty::I,
        Kind::Walk {
            base: GIB,
            sd: 2000.0,
            q: 1024,
        },
    ),
    f(
        "mem",
        ("", ""),
        "cached",
        Ty::I,
        Kind::Step {
            base: 3 * GIB,
            p: 0.3,
            max: 200,
            q: 1024,
        },
    ),
    f(
        "mem",
        ("", ""),
        "buffered",
        Ty::I,
        Kind::Step {
            base: GIB / 4,
            p: 0.1,
            max: 20,
            q: 1024,
        },
    ),
    f(
        "mem",
        ("", ""),
        "used_percent",
        Ty::F,
        Kind::Pct {
            mean: 37.0,
            sd: 0.04,
        },
    ),
    f(
        "mem",
        ("", ""),
        "available_percent",
        Ty::F,
        Kind::Pct {
            mean: 62.0,
            sd: 0.04,
        },
    ),
    // disk (path=/): 7
    f(
        "disk",
        ("path", "/"),
        "total",
        Ty::U,
        Kind::Const(100 * GIB),
    ),
    f(
        "disk",
        ("path", "/"),
        "used",
        Ty::U,
        Kind::Step {
            base: 40 * GIB,
            p: 0.2,
            max: 50,
            q: 4096,
        },
    ),
    f(
        "disk",
        ("path", "/"),
        "free",
        Ty::U,
        Kind::Step {
            base: 60 * GIB,
            p: 0.2,
            max: 50,
            q: 4096,
        },
    ),
    f(
        "disk",
        ("path", "/"),
        "used_percent",
        Ty::F,
        Kind::PctStep { mean: 40.0, p: 0.2 },
    ),
    f(
        "disk",
        ("path", "/"),
        "inodes_total",
        Ty::U,
        Kind::Const(6_553_600),
    ),
    f(
        "disk",
        ("path", "/"),
        "inodes_used",
        Ty::U,
        Kind::Step {
            base: 400_000,
            p: 0.05,
            max: 30,
            q: 1,
        },
    ),
    f(
        "disk",
        ("path", "/"),
        "inodes_free",
        Ty::U,
        Kind::Step {
            base: 6_153_600,
            p: 0.05,
            max: 30,
            q: 1,
        },
    ),
    // diskio (name=sda): 6
    f(
        "diskio",
        ("name", "sda"),
        "reads",
        Ty::U,
        Kind::Counter {
            rate: 40.0,
            jit: 0.8,
            p: 1.0,
        },
    ),
    f(
        "diskio",
        ("name", "sda"),
        "writes",
        Ty::U,
        Kind::Counter {
            rate: 300.0,
            jit: 0.6,
            p: 1.0,
        },
    ),
    f(
        "diskio",
        ("name", "sda"),
        "read_bytes",
        Ty::U,
        Kind::Counter {
            rate: 400_000.0,
            jit: 0.9,
            p: 1.0,
        },
    ),
    f(
        "diskio",
        ("name", "sda"),
        "write_bytes",
        Ty::U,
        Kind::Counter {
            rate: 3_000_000.0,
            jit: 0.7,
            p: 1.0,
        },
    ),
    f(
        "diskio",
        ("name", "sda"),
        "io_time",
        Ty::U,
        Kind::Counter {
            rate: 200.0,
            jit: 0.7,
            p: 1.0,
        },
    ),
    f(
        "diskio",
        ("name", "sda"),
        "iops_in_progress",
        Ty::U,
        Kind::Step {
            base: 0,
            p: 0.02,
            max: 1,
            q: 1,
        },
    ),
    // net (interface=eth0): 8
    f(
        "net",
        ("interface", "eth0"),
        "bytes_sent",
        Ty::U,
        Kind::Counter {
            rate: 2_000_000.0,
            jit: 0.5,
            p: 1.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "bytes_recv",
        Ty::U,
        Kind::Counter {
            rate: 5_000_000.0,
            jit: 0.5,
            p: 1.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "packets_sent",
        Ty::U,
        Kind::Counter {
            rate: 3_000.0,
            jit: 0.5,
            p: 1.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "packets_recv",
        Ty::U,
        Kind::Counter {
            rate: 5_000.0,
            jit: 0.5,
            p: 1.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "err_in",
        Ty::U,
        Kind::Counter {
            rate: 0.0,
            jit: 0.0,
            p: 0.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "err_out",
        Ty::U,
        Kind::Counter {
            rate: 0.0,
            jit: 0.0,
            p: 0.0,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "drop_in",
        Ty::U,
        Kind::Counter {
            rate: 2.0,
            jit: 1.0,
            p: 0.01,
        },
    ),
    f(
        "net",
        ("interface", "eth0"),
        "drop_out",
        Ty::U,
        Kind::Counter {
            rate: 0.0,
            jit: 0.0,
            p: 0.0,
        },
    ),
    // system: 6
    f("system", ("", ""), "load1", Ty::F, Kind::Load(0.9)),
    f("system", ("", ""), "load5", Ty::F, Kind::Load(0.8)),
    f("system", ("", ""), "load15", Ty::F, Kind::Load(0.7)),
    f("system", ("", ""), "n_cpus", Ty::I, Kind::Const(4)),
    f(
        "system",
        ("", ""),
        "n_users",
        Ty::I,
        Kind::Step {
            base: 1,
            p: 0.002,
            max: 1,
            q: 1,
        },
    ),
    f(
        "system",
        ("", ""),
        "uptime",
        Ty::U,
        Kind::Counter {
            rate: 10.0,
            jit: 0.0,
            p: 1.0,
        },
    ),
    // processes: 6
    f(
        "processes",
        ("", ""),
        "total",
        Ty::I,
        Kind::Walk {
            base: 300,
            sd: 1.5,
            q: 1,
        },
    ),
    f(
        "processes",
        ("", ""),
        "running",
        Ty::I,
        Kind::Walk {
            base: 2,
            sd: 0.7,
            q: 1,
        },
    ),
    f(
        "processes",
        ("", ""),
        "sleeping",
        Ty::I,
        Kind::Walk {
            base: 290,
            sd: 1.5,
            q: 1,
        },
    ),
    f(
        "processes",
        ("", ""),
        "blocked",
        Ty::I,
        Kind::Step {
            base: 0,
            p: 0.05,
            max: 1,
            q: 1,
        },
    ),
    f("processes", ("", ""), "zombies", Ty::I, Kind::Const(0)),
    f(
        "processes",
        ("", ""),
        "total_threads",
        Ty::I,
        Kind::Walk {
            base: 900,
            sd: 3.0,
            q: 1,
        },
    ),
    // swap: 4
    f("swap", ("", ""), "total", Ty::U, Kind::Const(2 * GIB)),
    f(
        "swap",
        ("", ""),
        "used",
        Ty::U,
        Kind::Step {
            base: 0,
            p: 0.001,
            max: 100,
            q: 4096,
        },
    ),
    f(
        "swap",
        ("", ""),
        "free",
        Ty::U,
        Kind::Step {
            base: 2 * GIB,
            p: 0.001,
            max: 100,
            q: 4096,
        },
    ),
    f(
        "swap",
        ("", ""),
        "used_percent",
        Ty::F,
        Kind::PctStep {
            mean: 0.0,
            p: 0.001,
        },
    ),
];

pub fn field_index(measurement: &str, field: &str) -> usize {
    FIELDS
        .iter()
        .position(|s| s.measurement == measurement && s.field == field)
        .expect("known field")
}

/// Host `h`'s tags: host name, project and environment (jeny tags every point with them).
pub fn host_tags(h: u32) -> [(&'static str, String); 3] {
    [
        (
            "env",
            if h % 3 == 0 {
                "staging".to_string()
            } else {
                "production".to_string()
            },
        ),
        ("host", format!("host-{h:06}")),
        ("project", format!("project-{:03}", h % 40)),
    ]
}

/// The series key: measurement, then all tags sorted by key, then the field.
pub fn series_key(h: u32, fi: usize) -> String {
    let spec = &FIELDS[fi];
    let mut tags: Vec<(&str, String)> = host_tags(h).into_iter().collect();
    if !spec.tag.0.is_empty() {
        tags.push((spec.tag.0, spec.tag.1.to_string()));
    }
    tags.sort();
    let mut key = spec.measurement.to_string();
    for (k, v) in tags {
        key.push(',');
        key.push_str(k);
        key.push('=');
        key.push_str(&v);
    }
    key.push(' ');
    key.push_str(spec.field);
    key
}

/// One series' value stream, point after point.
pub struct SeriesGen {
    rng: Rng,
    kind: Kind,
    ty: Ty,
    scale: u64,
    // state
    x: f64,
    n: u64,
    ticks: u64,
}

impl SeriesGen {
    pub fn new(host: u32, fi: usize) -> Self {
        let spec = &FIELDS[fi];
        let mut rng = Rng::new(((host as u64) << 16) ^ (fi as u64 * 0x1234_5677));
        // hosts come in sizes 1, 2, 4 (memory, disk, cpus)
        let scale = 1u64 << (host % 3);
        let ticks = 100 * 4 * scale * 10; // USER_HZ 100, cpus, 10 s
        let (x, n) = match spec.kind {
            Kind::CpuPct(mean) => (mean / 100.0, 0),
            Kind::Walk { base, .. } => (0.0, base * scale),
            Kind::Step { base, .. } => (0.0, base * scale),
            Kind::Counter { rate, .. } => (0.0, (rate * 1e5 * rng.f()) as u64),
            Kind::Pct { mean, .. } => (mean, 0),
            Kind::PctStep { mean, .. } => (mean + 0.001 * rng.f(), 0),
            Kind::Load(mean) => ((mean * scale as f64 * 100.0).round(), 0),
            _ => (0.0, 0),
        };
        SeriesGen {
            rng,
            kind: spec.kind,
            ty: spec.ty,
            scale,
            x,
            n,
            ticks,
        }
    }

    fn typed(&self, n: u64) -> V {
        match self.ty {
            Ty::I => V::I(n as i64),
            Ty::U => V::U(n),
            Ty::F => V::F(n as f64),
        }
    }

    pub fn next(&mut self) -> V {
        let r = &mut self.rng;
        match self.kind {
            Kind::CpuPct(mean) => {
                let m = mean / 100.0;
                // mean-reverting share with noise; the ticks counted over 10 s vary a little
                self.x += (m - self.x) * 0.05 + r.gauss() * m * 0.15;
                self.x = self.x.clamp(0.0, 1.0);
                let total = self.ticks + r.below(5) - 2;
                let busy = (self.x * total as f64).round() as u64;
                V::F(100.0 * busy as f64 / total as f64)
            }
            Kind::ZeroF => V::F(0.0),
            Kind::Const(c) => self.typed(c * self.scale),
            Kind::Walk { base, sd, q } => {
                let base = (base * self.scale) as f64;
                let cur = self.n as f64;
                let pull = (base - cur) * 0.01 / q as f64;
                let step = (r.gauss() * sd + pull).round() as i64;
                self.n = (self.n as i64 + step * q as i64).max(0) as u64;
                self.typed(self.n)
            }
            Kind::Step { p, max, q, .. } => {
                if r.f() < p {
                    let step = 1 + r.below(max.max(1)) as i64;
                    let sign = if r.f() < 0.5 && self.n >= step as u64 * q {
                        -1
                    } else {
                        1
                    };
                    self.n = (self.n as i64 + sign * step * q as i64) as u64;
                }
                self.typed(self.n)
            }
            Kind::Counter { rate, jit, p } => {
                if p >= 1.0 || r.f() < p {
                    let d = rate * self.scale as f64 * (1.0 + jit * (2.0 * r.f() - 1.0));
                    self.n += d.round().max(0.0) as u64;
                }
                self.typed(self.n)
            }
            Kind::Pct { mean, sd } => {
                self.x += (mean - self.x) * 0.01 + r.gauss() * sd;
                // computed as used / total like Telegraf does: a full-mantissa float
                let total = (8 * GIB * self.scale) as f64;
                let used = (self.x / 100.0 * total / 1024.0).round() * 1024.0;
                V::F(100.0 * used / total)
            }
            Kind::PctStep { p, .. } => {
                if r.f() < p {
                    self.x += 0.0001 + r.f() * 0.002;
                }
                V::F(self.x)
            }
            Kind::Load(mean) => {
                let target = mean * self.scale as f64 * 100.0;
                self.x += ((target - self.x) * 0.02 + r.gauss() * 3.0).round();
                self.x = self.x.max(0.0);
                V::F(self.x / 100.0)
            }
        }
    }
}

/// A whole series, `n` points from `start_ms` at the 10 s interval.
pub fn series_points(host: u32, fi: usize, start_ms: i64, n: usize) -> (Vec<i64>, Vec<V>) {
    let mut g = SeriesGen::new(host, fi);
    let ts = (0..n as i64).map(|i| start_ms + i * INTERVAL_MS).collect();
    let vs = (0..n).map(|_| g.next()).collect();
    (ts, vs)
}

/// A time-major stream of points over a set of series, cut into batches of `batch` points:
/// every series at time t, then every series at t + 10 s, and so on (how many agents' flushes
/// arrive at a server).
pub struct BatchStream {
    pub series: Vec<(u32, usize)>,
    gens: Vec<SeriesGen>,
    t: i64,
    next_series: usize,
    remaining: usize,
}

pub struct Point {
    /// index into `BatchStream::series`
    pub s: u32,
    pub ts: i64,
    pub v: V,
}

impl BatchStream {
    pub fn new(series: Vec<(u32, usize)>, start_ms: i64, total_points: usize) -> Self {
        let gens = series
            .iter()
            .map(|&(h, fi)| SeriesGen::new(h, fi))
            .collect();
        BatchStream {
            series,
            gens,
            t: start_ms,
            next_series: 0,
            remaining: total_points,
        }
    }

    pub fn next_batch(&mut self, batch: usize, out: &mut Vec<Point>) -> bool {
        out.clear();
        while out.len() < batch && self.remaining > 0 {
            let s = self.next_series;
            out.push(Point {
                s: s as u32,
                ts: self.t,
                v: self.gens[s].next(),
            });
            self.remaining -= 1;
            self.next_series += 1;
            if self.next_series == self.series.len() {
                self.next_series = 0;
                self.t += INTERVAL_MS;
            }
        }
        !out.is_empty()
    }
}

/// Every field of hosts `0..hosts`.
pub fn all_fields(hosts: u32) -> Vec<(u32, usize)> {
    (0..hosts)
        .flat_map(|h| (0..FIELDS.len()).map(move |fi| (h, fi)))
        .collect()
}
