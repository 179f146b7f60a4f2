//! The seeded, portable building blocks every vendor generator shares:
//! accounts, random streams keyed by (seed, vendor, index, stream), the
//! timeline that spreads conversations over local days, the set of
//! conversations ended by an instant, name and text pools, and the long-tail
//! message counts.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SimOptions;

/// Seconds in a day and an hour, for the lifetimes of chats.
pub(crate) const DAY: i64 = 86_400;
pub(crate) const HOUR: i64 = 3_600;

/// Stream tags: each kind of draw has its own random stream, so adding a draw
/// to one never shifts another.
pub(crate) mod stream {
    pub const RECORD: u64 = 1;
    pub const MESSAGES: u64 = 2;
    pub const SUMMARY: u64 = 3;
    pub const TIME: u64 = 4;
    pub const AGENTS: u64 = 5;
    pub const CUSTOMER: u64 = 6;
    pub const ID: u64 = 7;
    pub const REQUEST: u64 = 8;
    /// How a conversation's life goes on after its first minutes: long
    /// chats, late ratings. A stream of its own, so the records' other draws
    /// are what they were before the simulators had a clock.
    pub const LIFE: u64 = 9;
    /// The seed of an account other than the first.
    pub const ACCOUNT: u64 = 10;
}

/// One account of a vendor: the name its credentials and config use, and
/// what its dataset is generated from.
#[derive(Debug, Clone)]
pub(crate) struct AccountSpec {
    /// `demo` for account 0, `demo1`, `demo2`, … for the others.
    pub name: String,
    /// The seed of its data: the options' seed for account 0, that seed mixed
    /// with the index for the others.
    pub seed: u64,
    /// Conversations in its dataset.
    pub conversations: u64,
    /// Mean messages per conversation.
    pub messages: usize,
    /// First local day of data.
    pub start: NaiveDate,
    /// Span of the data, in days.
    pub days: u32,
}

impl AccountSpec {
    pub(crate) fn new(opts: &SimOptions, index: usize) -> Self {
        Self {
            name: account_name(index),
            seed: if index == 0 {
                opts.seed
            } else {
                key(opts.seed, 0, index as u64, stream::ACCOUNT)
            },
            conversations: opts.conversations as u64,
            messages: opts.messages,
            start: opts.start,
            days: opts.days,
        }
    }
}

/// The name of account `index`: `demo`, then `demo1`, `demo2`, …
pub(crate) fn account_name(index: usize) -> String {
    if index == 0 {
        "demo".to_owned()
    } else {
        format!("demo{index}")
    }
}

/// SplitMix64: a tiny, portable mixing function (the same on every platform
/// and Rust version, unlike `std`'s hashers).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit key for (seed, vendor, index, stream).
pub(crate) fn key(seed: u64, vendor: u64, index: u64, stream: u64) -> u64 {
    mix(mix(mix(mix(seed) ^ vendor) ^ index) ^ stream)
}

/// Ascending, sparse record ids: record `i` gets `first + stride * i` plus a
/// seeded offset below `stride`, so ids have gaps (as real ones do) yet stay
/// in listing order and map back to their index without a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SparseIds {
    pub seed: u64,
    pub vendor: u64,
    pub first: u64,
    pub stride: u64,
    pub len: u64,
}

impl SparseIds {
    /// The id of record `i`.
    pub(crate) fn id(&self, i: u64) -> u64 {
        self.first + self.stride * i + key(self.seed, self.vendor, i, stream::ID) % self.stride
    }

    /// The index of an id, if a record has it.
    pub(crate) fn index_of(&self, id: u64) -> Option<u64> {
        let i = id.checked_sub(self.first)? / self.stride;
        (i < self.len && self.id(i) == id).then_some(i)
    }
}

/// The random stream for (seed, vendor, index, stream).
pub(crate) fn rng(seed: u64, vendor: u64, index: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key(seed, vendor, index, stream))
}

/// Picks one item of a non-empty slice.
pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Where conversation `i` of `n` starts: the span `[start, start + days)` is
/// cut into `n` equal slots and each conversation starts at a random second
/// of its own slot, so start times strictly follow the index (ids ascend with
/// time, and a date filter is a binary search) while looking random. Within a
/// day the time is warped so most chats fall in office hours.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    seed: u64,
    vendor: u64,
    n: u64,
    origin: NaiveDateTime,
    span: u64,
}

impl Timeline {
    pub(crate) fn new(account: &AccountSpec, vendor: u64) -> Self {
        Self {
            seed: account.seed,
            vendor,
            n: account.conversations,
            origin: account.start.and_time(NaiveTime::MIN),
            span: u64::from(account.days.max(1)) * 86_400,
        }
    }

    fn base(&self, i: u64) -> u64 {
        (u128::from(i) * u128::from(self.span) / u128::from(self.n.max(1))) as u64
    }

    /// The local wall-clock start of conversation `i`.
    pub(crate) fn at(&self, i: u64) -> NaiveDateTime {
        let lo = self.base(i);
        let width = (self.base(i + 1) - lo).max(1);
        let offset = lo + key(self.seed, self.vendor, i, stream::TIME) % width;
        let (day, sec) = (offset / 86_400, offset % 86_400);
        self.origin + Duration::days(day as i64) + Duration::seconds(warp(sec) as i64)
    }

    /// The first index whose start satisfies `!before(start)`, given that
    /// `before` is true for a prefix of the indices (binary search).
    pub(crate) fn partition(&self, before: impl Fn(NaiveDateTime) -> bool) -> u64 {
        let (mut lo, mut hi) = (0u64, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(self.at(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The index range of conversations starting on local dates `[first, last]`.
    pub(crate) fn range_for_dates(
        &self,
        first: Option<NaiveDate>,
        last: Option<NaiveDate>,
    ) -> (u64, u64) {
        let lo = first.map_or(0, |d| self.partition(|t| t.date() < d));
        let hi = last.map_or(self.n, |d| self.partition(|t| t.date() <= d));
        (lo, hi.max(lo))
    }
}

/// The conversations a history listing shows at one instant: those that have
/// ended by then, in index order. Starts follow the index and no conversation
/// lasts longer than a vendor's longest chat, so everything that started that
/// long before the instant has ended (a prefix found by binary search); only
/// the conversations after it are generated to look at their end.
#[derive(Debug)]
pub(crate) struct Ended {
    /// Every index below this has ended.
    settled: u64,
    /// The indices at or above `settled` that have ended, ascending.
    later: Vec<u64>,
}

impl Ended {
    /// `ended(i)` says whether conversation `i` (started by `now`) has ended.
    pub(crate) fn new(
        timeline: &Timeline,
        now: NaiveDateTime,
        longest: Duration,
        ended: impl Fn(u64) -> bool,
    ) -> Self {
        let created = timeline.partition(|t| t <= now);
        let settled = timeline.partition(|t| t + longest <= now).min(created);
        Self {
            settled,
            later: (settled..created).filter(|&i| ended(i)).collect(),
        }
    }

    /// The ended conversations among the indices `[lo, hi)`: a run of
    /// consecutive indices, then scattered later ones.
    pub(crate) fn within(&self, lo: u64, hi: u64) -> (Range<u64>, &[u64]) {
        let hi = hi.max(lo);
        let run = lo.min(self.settled)..hi.min(self.settled);
        let a = self.later.partition_point(|&i| i < lo);
        let b = self.later.partition_point(|&i| i < hi);
        (run, &self.later[a..b])
    }

    /// How many conversations of `[lo, hi)` have ended.
    pub(crate) fn count(&self, lo: u64, hi: u64) -> u64 {
        let (run, later) = self.within(lo, hi);
        run.end - run.start + later.len() as u64
    }

    /// The ended conversations of `[lo, hi)`, ascending.
    pub(crate) fn iter(&self, lo: u64, hi: u64) -> impl Iterator<Item = u64> + '_ {
        let (run, later) = self.within(lo, hi);
        run.chain(later.iter().copied())
    }

    /// At most `take` ended conversations of `[lo, hi)` after the first `skip`.
    pub(crate) fn page(&self, lo: u64, hi: u64, skip: u64, take: u64) -> Vec<u64> {
        let (run, later) = self.within(lo, hi);
        let in_run = run.end - run.start;
        let from_run = run.start.saturating_add(skip).min(run.end)..run.end;
        let skip_later = usize::try_from(skip.saturating_sub(in_run)).unwrap_or(usize::MAX);
        from_run
            .chain(later.iter().skip(skip_later).copied())
            .take(usize::try_from(take).unwrap_or(usize::MAX))
            .collect()
    }
}

/// The last [`Ended`] built, for the instant it was built at: every request at
/// the same clock reuses it.
#[derive(Debug, Default)]
pub(crate) struct EndedCache(Mutex<Option<(NaiveDateTime, Arc<Ended>)>>);

impl EndedCache {
    pub(crate) fn get(&self, now: NaiveDateTime, build: impl FnOnce() -> Ended) -> Arc<Ended> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some((at, ended)) if *at == now => ended.clone(),
            _ => {
                let ended = Arc::new(build());
                *slot = Some((now, ended.clone()));
                ended
            }
        }
    }
}

/// Maps a uniform second of the day to a wall-clock second, monotonically:
/// 5% of the chats before 08:00, 90% between 08:00 and 22:00, 5% after.
fn warp(sec: u64) -> u64 {
    const DAY: u64 = 86_400;
    let (a, b) = (DAY * 5 / 100, DAY * 95 / 100);
    let (h8, h22) = (8 * 3600, 22 * 3600);
    if sec < a {
        sec * h8 / a
    } else if sec < b {
        h8 + (sec - a) * (h22 - h8) / (b - a)
    } else {
        h22 + (sec - b) * (DAY - h22) / (DAY - b)
    }
}

/// A message count with mean ≈ `mean` and a long tail: about 2% of the
/// conversations have between 8 and 30 times the mean (capped at `cap`).
pub(crate) fn message_count(rng: &mut ChaCha8Rng, mean: usize, cap: u32) -> u32 {
    if mean == 0 {
        return 0;
    }
    let m = mean as f64;
    let tail_mean = (19.0 * m).min(f64::from(cap));
    let base_mean = ((m - 0.02 * tail_mean) / 0.98).max(1.0);
    let n = if rng.random_bool(0.02) {
        let lo = (8 * mean as u64).min(u64::from(cap));
        let hi = (30 * mean as u64).min(u64::from(cap)).max(lo);
        rng.random_range(lo..=hi)
    } else {
        let hi = (2.0 * base_mean - 1.0).round().max(1.0) as u64;
        rng.random_range(1..=hi)
    };
    n.min(u64::from(cap)) as u32
}

/// `n` non-decreasing offsets in `[lo, hi]` seconds; neighbours share a second
/// now and then, as real chats do.
pub(crate) fn sorted_offsets(rng: &mut ChaCha8Rng, n: usize, lo: i64, hi: i64) -> Vec<i64> {
    let hi = hi.max(lo);
    let mut v: Vec<i64> = (0..n).map(|_| rng.random_range(lo..=hi)).collect();
    v.sort_unstable();
    v
}

/// Splits `n` messages into roles with exact counts, in a random order:
/// `counts[k]` messages of role `k`. When `first` is given, the first message
/// has that role (if any are left).
pub(crate) fn role_sequence(
    rng: &mut ChaCha8Rng,
    counts: &[u32],
    first: Option<usize>,
) -> Vec<usize> {
    let mut left: Vec<u32> = counts.to_vec();
    let total: u32 = left.iter().sum();
    let mut out = Vec::with_capacity(total as usize);
    if let Some(f) = first
        && left[f] > 0
    {
        left[f] -= 1;
        out.push(f);
    }
    for _ in out.len()..total as usize {
        let remaining: u32 = left.iter().sum();
        let mut r = rng.random_range(0..remaining);
        let mut k = 0;
        while r >= left[k] {
            r -= left[k];
            k += 1;
        }
        left[k] -= 1;
        out.push(k);
    }
    out
}

/// `2017-08-20 10:23:34`.
pub(crate) fn padded(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // Hand-formatted: chrono's `format` is slow, and dates are most of a page.
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2017-8-23 12:23:12`: month and day without zero padding, as Bangwo8 sends some records.
pub(crate) fn unpadded(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{}-{}-{} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A person of an agent pool.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: u64,
    pub name: &'static str,
    pub email: String,
    pub group_id: u64,
    pub group: &'static str,
}

/// Chinese names with their pinyin (for e-mail addresses).
pub(crate) const CHINESE_NAMES: &[(&str, &str)] = &[
    ("张伟", "zhangwei"),
    ("王芳", "wangfang"),
    ("李娜", "lina"),
    ("刘洋", "liuyang"),
    ("陈静", "chenjing"),
    ("杨磊", "yanglei"),
    ("赵敏", "zhaomin"),
    ("黄丽", "huangli"),
    ("周杰", "zhoujie"),
    ("吴婷", "wuting"),
    ("徐强", "xuqiang"),
    ("孙悦", "sunyue"),
    ("马超", "machao"),
    ("朱琳", "zhulin"),
    ("胡斌", "hubin"),
    ("郭丹", "guodan"),
];

/// Vietnamese names, diacritics included, with an ASCII handle.
pub(crate) const VIETNAMESE_NAMES: &[(&str, &str)] = &[
    ("Nguyễn Văn An", "annv"),
    ("Trần Thị Bích", "bichtt"),
    ("Lê Hoàng Nam", "namlh"),
    ("Phạm Thu Hà", "hapt"),
    ("Hoàng Minh Đức", "duchm"),
    ("Huỳnh Thị Mai", "maiht"),
    ("Võ Quốc Bảo", "baovq"),
    ("Đặng Thùy Linh", "linhdt"),
    ("Bùi Tiến Dũng", "dungbt"),
    ("Đỗ Ngọc Ánh", "anhdn"),
    ("Ngô Thanh Tùng", "tungnt"),
    ("Dương Khánh Vy", "vydk"),
    ("Trương Gia Huy", "huytg"),
    ("Lý Mỹ Duyên", "duyenlm"),
];

/// Builds a pool of `size` agents from `names`, in `groups`, with addresses at `domain`.
pub(crate) fn agent_pool(
    seed: u64,
    vendor: u64,
    names: &[(&'static str, &'static str)],
    groups: &[&'static str],
    domain: &str,
    first_id: u64,
) -> Vec<Person> {
    let mut r = rng(seed, vendor, 0, stream::AGENTS);
    let mut order: Vec<usize> = (0..names.len()).collect();
    // Fisher–Yates by hand keeps the draw sequence explicit and portable.
    for i in (1..order.len()).rev() {
        let j = r.random_range(0..=i);
        order.swap(i, j);
    }
    let size = 10.min(names.len());
    let mut id = first_id;
    order[..size]
        .iter()
        .map(|&k| {
            id += r.random_range(1..40);
            let g = r.random_range(0..groups.len());
            Person {
                id,
                name: names[k].0,
                email: format!("{}@{domain}", names[k].1),
                group_id: 100 + g as u64,
                group: groups[g],
            }
        })
        .collect()
}

/// What customers write (Chinese, Vietnamese, English and emoji).
pub(crate) const CUSTOMER_TEXT: &[&str] = &[
    "你好,在吗?",
    "我的订单还没有发货,能帮我查一下吗?",
    "怎么申请退款?",
    "发票怎么开?要增值税专用发票",
    "谢谢!👍",
    "好的😊",
    "请问你们周末上班吗",
    "账号登录不了了😭 一直提示密码错误",
    "这个产品支持微信支付吗?",
    "订单号是 20240312-8876",
    "收到了,非常感谢🙏",
    "能便宜一点吗?🤔",
    "快递显示已签收,但我没有收到",
    "Xin chào, tôi cần hỗ trợ về đơn hàng của mình",
    "Cảm ơn bạn nhiều nhé! ❤️",
    "Hello, is anyone there?",
    "在吗在吗??",
    "😂😂😂",
    "我想换一个颜色,可以吗?\n红色换成蓝色",
    "地址写错了,改成:北京市朝阳区建国路88号 SOHO现代城",
];

/// What agents write.
pub(crate) const AGENT_TEXT: &[&str] = &[
    "您好,很高兴为您服务!",
    "请稍等,我帮您查询一下",
    "已经为您加急处理了,请留意短信通知",
    "退款会在3-5个工作日内原路返回",
    "还有其他可以帮您的吗?😊",
    "感谢您的耐心等待🙏",
    "请提供一下您的订单号",
    "您可以在「我的-订单」里申请开票",
    "Dạ, em đã kiểm tra đơn hàng của anh/chị rồi ạ.",
    "好的,已为您备注修改地址",
    "抱歉给您带来不便,我们马上安排补发📦",
    "Sure, let me check that for you.",
    "周末正常上班,时间是 9:00-21:00",
];

/// What robots write.
pub(crate) const BOT_TEXT: &[&str] = &[
    "您好,我是智能客服小帮🤖,请问有什么可以帮您?",
    "为您找到以下答案:【退款流程】进入订单详情 → 申请售后 → 选择退款原因",
    "转人工请回复【人工】",
    "抱歉,我没有理解您的问题,换个说法试试?",
    "",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warp_is_monotonic_and_stays_in_the_day() {
        let mut last = 0;
        for s in (0..86_400).step_by(7) {
            let w = warp(s);
            assert!(w >= last && w < 86_400, "{s} -> {w}");
            last = w;
        }
        assert_eq!(warp(86_400 * 5 / 100), 8 * 3600);
    }

    #[test]
    fn role_sequences_have_exact_counts_and_the_first_role() {
        let mut r = rng(1, 2, 3, 4);
        for _ in 0..50 {
            let seq = role_sequence(&mut r, &[5, 7, 2], Some(2));
            assert_eq!(seq[0], 2);
            for (k, n) in [5, 7, 2].iter().enumerate() {
                assert_eq!(seq.iter().filter(|&&x| x == k).count(), *n);
            }
        }
        assert!(role_sequence(&mut r, &[0, 0, 0], Some(1)).is_empty());
    }

    #[test]
    fn unpadded_dates_drop_only_the_date_zeros() {
        let t = NaiveDate::from_ymd_opt(2017, 8, 3)
            .unwrap()
            .and_hms_opt(2, 3, 4)
            .unwrap();
        assert_eq!(unpadded(t), "2017-8-3 02:03:04");
        assert_eq!(padded(t), "2017-08-03 02:03:04");
    }

    #[test]
    fn timeline_is_strictly_increasing_and_within_the_span() {
        let opts = SimOptions {
            conversations: 1000,
            days: 10,
            ..SimOptions::default()
        };
        let tl = Timeline::new(&AccountSpec::new(&opts, 0), 9);
        let times: Vec<_> = (0..1000).map(|i| tl.at(i)).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times[0] >= opts.start.and_time(NaiveTime::MIN));
        assert!(times[999] < (opts.start + Duration::days(10)).and_time(NaiveTime::MIN));
        let d = opts.start + Duration::days(3);
        let (lo, hi) = tl.range_for_dates(Some(d), Some(d));
        assert!(times[lo as usize].date() == d && times[hi as usize - 1].date() == d);
        assert!(times[lo as usize - 1].date() < d && times[hi as usize].date() > d);
    }

    #[test]
    fn ended_sets_page_across_the_run_and_the_later_ones() {
        let opts = SimOptions {
            conversations: 100,
            days: 10,
            ..SimOptions::default()
        };
        let tl = Timeline::new(&AccountSpec::new(&opts, 0), 9);
        let now = tl.at(60);
        // Conversation i lasts i hours (at most 99): only the even ones among
        // the last days' have ended, by construction of `ended`.
        let ended = Ended::new(&tl, now, Duration::hours(99), |i| i % 2 == 0);
        let want: Vec<u64> = (0..=60)
            .filter(|&i| i < ended.settled || i % 2 == 0)
            .collect();
        assert!(ended.settled > 0 && ended.settled < 60, "{}", ended.settled);
        assert_eq!(ended.iter(0, 100).collect::<Vec<_>>(), want);
        assert_eq!(ended.count(0, 100), want.len() as u64);
        for (lo, hi) in [(0, 100), (5, 58), (ended.settled, 61), (59, 100), (70, 90)] {
            let all: Vec<u64> = want
                .iter()
                .copied()
                .filter(|&i| i >= lo && i < hi)
                .collect();
            assert_eq!(ended.count(lo, hi), all.len() as u64, "[{lo}, {hi})");
            for skip in 0..all.len() as u64 + 2 {
                let page = ended.page(lo, hi, skip, 7);
                let expect: Vec<u64> = all.iter().copied().skip(skip as usize).take(7).collect();
                assert_eq!(page, expect, "[{lo}, {hi}) skip {skip}");
            }
        }
        // Before the first start nothing exists; long after, everything ended.
        let before = Ended::new(
            &tl,
            tl.at(0) - Duration::seconds(1),
            Duration::hours(99),
            |_| true,
        );
        assert_eq!(before.count(0, 100), 0);
        let after = Ended::new(
            &tl,
            tl.at(99) + Duration::hours(99),
            Duration::hours(99),
            |_| false,
        );
        assert_eq!(after.count(0, 100), 100);
    }

    #[test]
    fn account_zero_keeps_the_seed_and_the_others_get_their_own() {
        let opts = SimOptions::default();
        let (a, b, c) = (
            AccountSpec::new(&opts, 0),
            AccountSpec::new(&opts, 1),
            AccountSpec::new(&opts, 2),
        );
        assert_eq!((a.seed, a.name.as_str()), (42, "demo"));
        assert_eq!((b.name.as_str(), c.name.as_str()), ("demo1", "demo2"));
        assert!(b.seed != a.seed && c.seed != b.seed && c.seed != a.seed);
    }
}
