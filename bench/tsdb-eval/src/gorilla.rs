//! Reference encoding: Gorilla (Pelkonen et al., VLDB 2015) as Prometheus and InfluxDB 1.x use
//! it: delta-of-delta timestamps and XOR floats, in 2-hour blocks. Integers are stored as f64
//! (exact below 2^53), as Prometheus does.

struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    nacc: u32,
}

impl BitWriter {
    fn new() -> Self {
        BitWriter {
            buf: Vec::new(),
            acc: 0,
            nacc: 0,
        }
    }
    fn bit(&mut self, b: bool) {
        self.bits(b as u64, 1);
    }
    fn bits(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        if n > 32 {
            self.bits(v >> 32, n - 32);
            self.bits(v & 0xFFFF_FFFF, 32);
            return;
        }
        self.acc = (self.acc << n) | (v & ((1u64 << n) - 1));
        self.nacc += n;
        while self.nacc >= 8 {
            self.nacc -= 8;
            self.buf.push((self.acc >> self.nacc) as u8);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.nacc > 0 {
            self.buf.push((self.acc << (8 - self.nacc)) as u8);
        }
        self.buf
    }
}

struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> bool {
        let b = self.buf[self.pos / 8] & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        b
    }
    fn bits(&mut self, n: u32) -> u64 {
        if n == 0 {
            return 0;
        }
        let byte = self.pos / 8;
        let mut w = [0u8; 16];
        let avail = self.buf.len().saturating_sub(byte).min(16);
        w[..avail].copy_from_slice(&self.buf[byte..byte + avail]);
        let word = u128::from_be_bytes(w);
        let shift = 128 - (self.pos % 8) as u32 - n;
        self.pos += n as usize;
        ((word >> shift) as u64) & (u64::MAX >> (64 - n))
    }
}

fn sign_extend(v: u64, n: u32) -> i64 {
    let shift = 64 - n;
    ((v << shift) as i64) >> shift
}

/// Encodes one block. Layout: count (16 bits), first timestamp (64), first delta (32), then
/// delta-of-deltas in the paper's buckets (1, 2+7, 3+9, 4+12, 4+32 bits); values: first value
/// (64), then XOR with the paper's control bits.
pub fn encode(ts: &[i64], vs: &[u64]) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.bits(ts.len() as u64, 16);
    if ts.is_empty() {
        return w.finish();
    }
    w.bits(ts[0] as u64, 64);
    let mut prev_delta = 0i64;
    for i in 1..ts.len() {
        let delta = ts[i] - ts[i - 1];
        if i == 1 {
            w.bits(delta as u64 & 0xFFFF_FFFF, 32);
        } else {
            let dod = delta - prev_delta;
            match dod {
                0 => w.bit(false),
                -64..=63 => {
                    w.bits(0b10, 2);
                    w.bits(dod as u64 & 0x7F, 7);
                }
                -256..=255 => {
                    w.bits(0b110, 3);
                    w.bits(dod as u64 & 0x1FF, 9);
                }
                -2048..=2047 => {
                    w.bits(0b1110, 4);
                    w.bits(dod as u64 & 0xFFF, 12);
                }
                _ => {
                    w.bits(0b1111, 4);
                    w.bits(dod as u64 & 0xFFFF_FFFF, 32);
                }
            }
        }
        prev_delta = delta;
    }
    w.bits(vs[0], 64);
    let (mut prev, mut lead, mut trail) = (vs[0], u32::MAX, 0u32);
    for &v in &vs[1..] {
        let x = v ^ prev;
        if x == 0 {
            w.bit(false);
        } else {
            w.bit(true);
            let l = x.leading_zeros().min(31);
            let t = x.trailing_zeros();
            if lead != u32::MAX && l >= lead && t >= trail {
                w.bit(false);
                w.bits(x >> trail, 64 - lead - trail);
            } else {
                w.bit(true);
                w.bits(l as u64, 5);
                let sig = 64 - l - t;
                w.bits((sig - 1) as u64, 6);
                w.bits(x >> t, sig);
                lead = l;
                trail = t;
            }
        }
        prev = v;
    }
    w.finish()
}

/// Decodes a block into `ts` and `vs` (appending).
pub fn decode(buf: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<u64>) {
    let mut r = BitReader { buf, pos: 0 };
    let n = r.bits(16) as usize;
    if n == 0 {
        return;
    }
    let mut t = r.bits(64) as i64;
    ts.push(t);
    let mut delta = 0i64;
    for i in 1..n {
        if i == 1 {
            delta = sign_extend(r.bits(32), 32);
        } else {
            let dod = if !r.bit() {
                0
            } else if !r.bit() {
                sign_extend(r.bits(7), 7)
            } else if !r.bit() {
                sign_extend(r.bits(9), 9)
            } else if !r.bit() {
                sign_extend(r.bits(12), 12)
            } else {
                sign_extend(r.bits(32), 32)
            };
            delta += dod;
        }
        t += delta;
        ts.push(t);
    }
    let mut prev = r.bits(64);
    vs.push(prev);
    let (mut lead, mut trail) = (0u32, 0u32);
    for _ in 1..n {
        if r.bit() {
            if r.bit() {
                lead = r.bits(5) as u32;
                let sig = r.bits(6) as u32 + 1;
                trail = 64 - lead - sig;
            }
            let sig = 64 - lead - trail;
            prev ^= r.bits(sig) << trail;
        }
        vs.push(prev);
    }
}
