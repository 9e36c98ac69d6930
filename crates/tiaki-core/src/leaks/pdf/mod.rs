//! A small, careful PDF reader: enough to find a file's objects (through its
//! cross-reference sections, classic or stream, or by scanning a damaged file), its
//! pages and its streams, and to decode `FlateDecode` data. Used to mark served copies
//! with an incremental update and to fingerprint content.
//!
//! Everything here reads untrusted bytes. Nothing panics; recursion is depth-limited;
//! decompression is capped per stream and per file, so a small hostile file cannot
//! make a large amount of work.

pub mod mark;
pub mod object;

use object::{Dict, Obj, Parser, is_white};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::rc::Rc;

/// Most bytes one stream may decode to.
pub const MAX_STREAM_DECODED: usize = 64 * 1024 * 1024;
/// Most bytes all streams of one file may decode to, together.
pub const MAX_FILE_DECODED: usize = 256 * 1024 * 1024;
/// Most cross-reference sections followed (`/Prev` chains).
const MAX_SECTIONS: usize = 256;
/// Most pages read.
pub const MAX_PAGES: usize = 20_000;
/// Deepest page tree followed.
const MAX_TREE_DEPTH: usize = 64;
/// Most reference hops when resolving.
const MAX_HOPS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("not a PDF file")]
    NotPdf,
    #[error("the PDF's structure could not be read")]
    Damaged,
    #[error("the PDF is encrypted")]
    Encrypted,
    #[error("a PDF stream uses an encoding this reader does not decode")]
    Unsupported,
    #[error("a PDF stream decodes to more than the limit")]
    TooLarge,
}

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// A byte offset in the file, with the generation.
    Offset(usize, u16),
    /// Inside object stream `stream`, at `index`.
    InStream(u32, u32),
}

/// An object stream, decoded once: each object's number and the offset of its text.
#[derive(Debug)]
struct ObjStm {
    data: Vec<u8>,
    first: usize,
    offsets: Vec<(u32, usize)>,
}

/// A page: its object, its dictionary and what it inherits.
#[derive(Debug, Clone)]
pub struct Page {
    pub num: u32,
    pub generation: u16,
    pub dict: Dict,
    /// The page's resources, its own or inherited (a dictionary or a reference).
    pub resources: Option<Obj>,
    /// `[llx lly urx ury]`, its own or inherited; US Letter if none is given.
    pub media_box: [f64; 4],
}

/// A parsed PDF file.
#[derive(Debug)]
pub struct PdfFile<'a> {
    data: &'a [u8],
    entries: HashMap<u32, Entry>,
    /// The newest trailer, with keys older trailers add.
    pub trailer: Dict,
    /// The offset of the newest cross-reference section.
    pub startxref: usize,
    /// Whether the newest section is a cross-reference stream (PDF 1.5+).
    pub xref_is_stream: bool,
    /// Whether the cross-reference data was unusable and objects were found by scanning.
    pub recovered: bool,
    objstms: RefCell<HashMap<u32, Rc<ObjStm>>>,
    decoded_budget: Cell<usize>,
}

impl<'a> PdfFile<'a> {
    /// Reads a file's structure. Fails only if it is no PDF at all.
    pub fn parse(data: &'a [u8]) -> Result<Self, PdfError> {
        let head = data.get(..data.len().min(1024)).unwrap_or_default();
        if find(head, b"%PDF-").is_none() {
            return Err(PdfError::NotPdf);
        }
        let mut file = Self {
            data,
            entries: HashMap::new(),
            trailer: Dict::default(),
            startxref: 0,
            xref_is_stream: false,
            recovered: false,
            objstms: RefCell::new(HashMap::new()),
            decoded_budget: Cell::new(MAX_FILE_DECODED),
        };
        let sections = file
            .find_startxref()
            .and_then(|start| file.read_sections(start).map(|kind| (start, kind)));
        match sections {
            Some((start, is_stream)) if file.trailer.get(b"Root").is_some() => {
                file.startxref = start;
                file.xref_is_stream = is_stream;
            }
            _ => file.recover()?,
        }
        Ok(file)
    }

    /// The bytes of the whole file.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// One more than the highest object number in use (the trailer's `/Size` or more).
    #[must_use]
    pub fn size(&self) -> u32 {
        let declared = self
            .trailer
            .int(b"Size")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        let highest = self.entries.keys().max().map_or(0, |n| n.saturating_add(1));
        declared.max(highest)
    }

    /// Every object number the file defines, ascending.
    #[must_use]
    pub fn object_numbers(&self) -> Vec<u32> {
        let mut nums: Vec<u32> = self.entries.keys().copied().collect();
        nums.sort_unstable();
        nums
    }

    fn find_startxref(&self) -> Option<usize> {
        let tail_from = self.data.len().saturating_sub(2048);
        let tail = self.data.get(tail_from..)?;
        let at = rfind(tail, b"startxref")?;
        let mut p = Parser::new(self.data, tail_from + at + b"startxref".len());
        usize::try_from(p.unsigned()?).ok()
    }

    /// Reads the chain of sections from `start`; `Some(is_stream)` of the newest.
    fn read_sections(&mut self, start: usize) -> Option<bool> {
        let mut queue = vec![start];
        let mut seen = HashSet::new();
        let mut newest_is_stream = None;
        while let Some(at) = queue.pop() {
            if seen.len() >= MAX_SECTIONS || !seen.insert(at) {
                continue;
            }
            let (trailer, is_stream) = if self.looks_like(at, b"xref") {
                (self.read_classic(at)?, false)
            } else {
                (self.read_stream_section(at)?, true)
            };
            newest_is_stream.get_or_insert(is_stream);
            for (k, v) in &trailer.0 {
                if self.trailer.get(k).is_none() && k.as_slice() != b"Prev" {
                    self.trailer.set(k, v.clone());
                }
            }
            // Older sections are read after this one's hybrid stream: newest wins.
            if let Some(prev) = trailer.int(b"Prev").and_then(|p| usize::try_from(p).ok()) {
                queue.push(prev);
            }
            if let Some(stm) = trailer
                .int(b"XRefStm")
                .and_then(|p| usize::try_from(p).ok())
            {
                queue.push(stm);
            }
        }
        self.trailer.remove(b"XRefStm");
        newest_is_stream
    }

    fn looks_like(&self, at: usize, keyword: &[u8]) -> bool {
        let mut p = Parser::new(self.data, at);
        p.keyword(keyword)
    }

    fn read_classic(&mut self, at: usize) -> Option<Dict> {
        let mut p = Parser::new(self.data, at);
        if !p.keyword(b"xref") {
            return None;
        }
        loop {
            if p.keyword(b"trailer") {
                return match p.object().ok()? {
                    Obj::Dict(d) => Some(d),
                    _ => None,
                };
            }
            let first = p.unsigned()?;
            let count = p.unsigned()?;
            if count > (self.data.len() / 18) as u64 {
                return None;
            }
            for i in 0..count {
                let offset = p.unsigned()?;
                let generation = p.unsigned()?;
                let in_use = if p.keyword(b"n") {
                    true
                } else if p.keyword(b"f") {
                    false
                } else {
                    return None;
                };
                let num = u32::try_from(first.checked_add(i)?).ok()?;
                if in_use && offset > 0 {
                    let entry = Entry::Offset(
                        usize::try_from(offset).ok()?,
                        u16::try_from(generation).ok()?,
                    );
                    self.entries.entry(num).or_insert(entry);
                }
            }
        }
    }

    fn read_stream_section(&mut self, at: usize) -> Option<Dict> {
        let (_, _, obj, raw) = self.indirect_at(at, 0)?;
        let Obj::Dict(dict) = obj else { return None };
        if dict.name(b"Type") != Some(b"XRef") {
            return None;
        }
        let data = self.decode(&dict, raw?).ok()?;
        let widths: Vec<usize> = match dict.get(b"W") {
            Some(Obj::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|x| match x {
                    Obj::Int(n) if (0..=8).contains(n) => usize::try_from(*n).ok(),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => return None,
        };
        let size = dict.int(b"Size")?;
        let index: Vec<i64> = match dict.get(b"Index") {
            Some(Obj::Array(items)) => items
                .iter()
                .map(|x| match x {
                    Obj::Int(n) => Some(*n),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => vec![0, size],
        };
        let row = widths.iter().sum::<usize>();
        if row == 0 {
            return None;
        }
        let mut rows = data.chunks_exact(row);
        for pair in index.chunks(2) {
            let (&first, &count) = (pair.first()?, pair.get(1)?);
            for i in 0..count.max(0) {
                let Some(entry) = rows.next() else {
                    return Some(dict);
                };
                let (w0, rest) = entry.split_at(widths.first().copied()?);
                let (w1, w2) = rest.split_at(widths.get(1).copied()?);
                let kind = if w0.is_empty() { 1 } else { be(w0) };
                let num = u32::try_from(first.checked_add(i)?).ok()?;
                let entry = match kind {
                    1 => Entry::Offset(
                        usize::try_from(be(w1)).ok()?,
                        u16::try_from(be(w2)).unwrap_or(0),
                    ),
                    2 => Entry::InStream(u32::try_from(be(w1)).ok()?, u32::try_from(be(w2)).ok()?),
                    _ => continue,
                };
                self.entries.entry(num).or_insert(entry);
            }
        }
        Some(dict)
    }

    /// Finds objects by scanning for `n g obj` when the cross-reference data is unusable.
    fn recover(&mut self) -> Result<(), PdfError> {
        self.recovered = true;
        self.entries.clear();
        self.trailer = Dict::default();
        let mut at = 0;
        let mut streams = Vec::new();
        while let Some(found) = find(self.data.get(at..).unwrap_or_default(), b"obj") {
            let pos = at + found;
            at = pos + 3;
            let Some(start) = object_header_start(self.data, pos) else {
                continue;
            };
            let mut p = Parser::new(self.data, start);
            let (Some(num), Some(generation)) = (p.unsigned(), p.unsigned()) else {
                continue;
            };
            let (Ok(num), Ok(generation)) = (u32::try_from(num), u16::try_from(generation)) else {
                continue;
            };
            // Later definitions replace earlier ones, as incremental updates do.
            self.entries.insert(num, Entry::Offset(start, generation));
            streams.push(num);
        }
        // The newest trailer dictionary, or the newest cross-reference stream's.
        if let Some(t) = rfind(self.data, b"trailer") {
            let mut p = Parser::new(self.data, t + b"trailer".len());
            if let Ok(Obj::Dict(d)) = p.object() {
                self.trailer = d;
            }
        }
        for &num in streams.iter().rev() {
            if self.trailer.get(b"Root").is_some() {
                break;
            }
            if let Some(Obj::Dict(d)) = self.object(num)
                && d.name(b"Type") == Some(b"XRef")
            {
                self.trailer = d;
            }
        }
        // Objects inside object streams, where not defined directly.
        for num in self.object_numbers() {
            let Some(Obj::Dict(d)) = self.object(num) else {
                continue;
            };
            if d.name(b"Type") != Some(b"ObjStm") {
                continue;
            }
            if let Some(stm) = self.objstm(num) {
                for (i, (inner, _)) in stm.offsets.iter().enumerate() {
                    let index = u32::try_from(i).unwrap_or(u32::MAX);
                    self.entries
                        .entry(*inner)
                        .or_insert(Entry::InStream(num, index));
                }
            }
        }
        if self.trailer.get(b"Root").is_none() {
            let catalog = self.object_numbers().into_iter().find(|&n| {
                self.object(n)
                    .and_then(|o| o.as_dict().map(|d| d.name(b"Type") == Some(b"Catalog")))
                    .unwrap_or(false)
            });
            let Some(catalog) = catalog else {
                return Err(PdfError::Damaged);
            };
            self.trailer.set(b"Root", Obj::Ref(catalog, 0));
        }
        Ok(())
    }

    /// Reads `n g obj <object> [stream …]` at `at`: number, generation, object and,
    /// for a stream, its raw (still encoded) data.
    fn indirect_at(&self, at: usize, depth: usize) -> Option<(u32, u16, Obj, Option<&'a [u8]>)> {
        let mut p = Parser::new(self.data, at);
        let num = u32::try_from(p.unsigned()?).ok()?;
        let generation = u16::try_from(p.unsigned()?).ok()?;
        if !p.keyword(b"obj") {
            return None;
        }
        let obj = p.object().ok()?;
        let Obj::Dict(dict) = &obj else {
            return Some((num, generation, obj, None));
        };
        let mut probe = p.clone();
        if !probe.keyword(b"stream") {
            return Some((num, generation, obj, None));
        }
        let mut start = probe.pos;
        match (self.data.get(start), self.data.get(start + 1)) {
            (Some(b'\r'), Some(b'\n')) => start += 2,
            (Some(b'\n' | b'\r'), _) => start += 1,
            _ => {}
        }
        let declared = match dict.get(b"Length") {
            Some(Obj::Int(n)) => usize::try_from(*n).ok(),
            Some(r @ Obj::Ref(..)) if depth < 2 => match self.resolve_depth(r, depth + 1) {
                Some(Obj::Int(n)) => usize::try_from(n).ok(),
                _ => None,
            },
            _ => None,
        };
        let by_length = declared.and_then(|len| {
            let end = start.checked_add(len)?;
            let mut after = Parser::new(self.data, end);
            after
                .keyword(b"endstream")
                .then(|| self.data.get(start..end))
                .flatten()
        });
        let raw = by_length.or_else(|| {
            let rest = self.data.get(start..)?;
            let mut end = find(rest, b"endstream")?;
            if end > 0 && rest.get(end - 1) == Some(&b'\n') {
                end -= 1;
            }
            if end > 0 && rest.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            rest.get(..end)
        });
        Some((num, generation, obj, raw))
    }

    /// Object `num`'s value (a stream's dictionary for a stream).
    #[must_use]
    pub fn object(&self, num: u32) -> Option<Obj> {
        self.object_depth(num, 0)
    }

    fn object_depth(&self, num: u32, depth: usize) -> Option<Obj> {
        match *self.entries.get(&num)? {
            Entry::Offset(at, _) => {
                let (found, _, obj, _) = self.indirect_at(at, depth)?;
                (found == num).then_some(obj)
            }
            Entry::InStream(stream, index) => {
                if depth > 1 {
                    return None;
                }
                let stm = self.objstm(stream)?;
                let (found, offset) = *stm.offsets.get(usize::try_from(index).ok()?)?;
                if found != num {
                    return None;
                }
                let mut p = Parser::new(&stm.data, stm.first.checked_add(offset)?);
                p.object().ok()
            }
        }
    }

    /// Object `num` as a stream: its dictionary and raw data.
    #[must_use]
    pub fn stream(&self, num: u32) -> Option<(Dict, &'a [u8])> {
        match *self.entries.get(&num)? {
            Entry::Offset(at, _) => match self.indirect_at(at, 0)? {
                (found, _, Obj::Dict(d), Some(raw)) if found == num => Some((d, raw)),
                _ => None,
            },
            Entry::InStream(..) => None,
        }
    }

    fn objstm(&self, num: u32) -> Option<Rc<ObjStm>> {
        if let Some(stm) = self.objstms.borrow().get(&num) {
            return Some(stm.clone());
        }
        let (dict, raw) = self.stream(num)?;
        if dict.name(b"Type") != Some(b"ObjStm") {
            return None;
        }
        let data = self.decode(&dict, raw).ok()?;
        let n = usize::try_from(dict.int(b"N")?).ok()?;
        let first = usize::try_from(dict.int(b"First")?).ok()?;
        if n > data.len() {
            return None;
        }
        let mut p = Parser::new(&data, 0);
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            let inner = u32::try_from(p.unsigned()?).ok()?;
            let offset = usize::try_from(p.unsigned()?).ok()?;
            offsets.push((inner, offset));
        }
        let stm = Rc::new(ObjStm {
            data,
            first,
            offsets,
        });
        self.objstms.borrow_mut().insert(num, stm.clone());
        Some(stm)
    }

    /// Follows references to a direct object.
    #[must_use]
    pub fn resolve(&self, obj: &Obj) -> Option<Obj> {
        self.resolve_depth(obj, 0)
    }

    fn resolve_depth(&self, obj: &Obj, depth: usize) -> Option<Obj> {
        let mut current = obj.clone();
        for _ in 0..MAX_HOPS {
            match current {
                Obj::Ref(num, _) => current = self.object_depth(num, depth)?,
                other => return Some(other),
            }
        }
        None
    }

    /// A stream's data with its filters undone. Image codecs (DCT, JPX, CCITT, JBIG2)
    /// are left encoded: their bytes are already what identifies the image.
    pub fn decode(&self, dict: &Dict, raw: &[u8]) -> Result<Vec<u8>, PdfError> {
        let filters: Vec<Vec<u8>> = match dict.get(b"Filter") {
            None => Vec::new(),
            Some(Obj::Name(n)) => vec![n.clone()],
            Some(Obj::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Obj::Name(n) => Ok(n.clone()),
                    _ => Err(PdfError::Unsupported),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(PdfError::Unsupported),
        };
        let params: Vec<Option<Dict>> = match dict.get(b"DecodeParms") {
            Some(Obj::Dict(d)) => vec![Some(d.clone())],
            Some(Obj::Array(items)) => items.iter().map(|i| i.as_dict().cloned()).collect(),
            _ => Vec::new(),
        };
        let mut data = raw.to_vec();
        for (i, filter) in filters.iter().enumerate() {
            let param = params.get(i).cloned().flatten();
            data = match filter.as_slice() {
                b"FlateDecode" | b"Fl" => {
                    let inflated = self.inflate(&data)?;
                    match param {
                        Some(p) => unpredict(&p, inflated)?,
                        None => inflated,
                    }
                }
                b"DCTDecode" | b"DCT" | b"JPXDecode" | b"CCITTFaxDecode" | b"CCF"
                | b"JBIG2Decode"
                    if i + 1 == filters.len() =>
                {
                    return Ok(data);
                }
                _ => return Err(PdfError::Unsupported),
            };
        }
        Ok(data)
    }

    fn inflate(&self, data: &[u8]) -> Result<Vec<u8>, PdfError> {
        let budget = self.decoded_budget.get();
        let limit = MAX_STREAM_DECODED.min(budget);
        let mut out = Vec::new();
        let reader = flate2::read::ZlibDecoder::new(data);
        let read = reader
            .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
            .read_to_end(&mut out);
        if out.len() > limit {
            return Err(PdfError::TooLarge);
        }
        // Many writers leave a truncated or checksum-less tail; what inflated is the data.
        if read.is_err() && out.is_empty() {
            return Err(PdfError::Damaged);
        }
        self.decoded_budget.set(budget.saturating_sub(out.len()));
        Ok(out)
    }

    /// The pages, in order.
    pub fn pages(&self) -> Result<Vec<Page>, PdfError> {
        let root = self
            .trailer
            .get(b"Root")
            .and_then(|r| self.resolve(r))
            .ok_or(PdfError::Damaged)?;
        let pages_ref = root
            .as_dict()
            .and_then(|d| d.get(b"Pages"))
            .cloned()
            .ok_or(PdfError::Damaged)?;
        let mut pages = Vec::new();
        let mut seen = HashSet::new();
        let inherited = Inherited::default();
        self.walk(&pages_ref, &inherited, 0, &mut seen, &mut pages)?;
        Ok(pages)
    }

    fn walk(
        &self,
        node: &Obj,
        inherited: &Inherited,
        depth: usize,
        seen: &mut HashSet<u32>,
        pages: &mut Vec<Page>,
    ) -> Result<(), PdfError> {
        let Obj::Ref(num, generation) = *node else {
            return Err(PdfError::Damaged);
        };
        if depth > MAX_TREE_DEPTH || pages.len() >= MAX_PAGES || !seen.insert(num) {
            return Err(PdfError::Damaged);
        }
        let Some(Obj::Dict(dict)) = self.object(num) else {
            return Err(PdfError::Damaged);
        };
        let mut here = inherited.clone();
        if let Some(r) = dict.get(b"Resources") {
            here.resources = Some(r.clone());
        }
        if let Some(b) = dict.get(b"MediaBox").and_then(|b| self.rect(b)) {
            here.media_box = Some(b);
        }
        let is_tree = dict.name(b"Type") == Some(b"Pages")
            || (dict.name(b"Type") != Some(b"Page") && dict.get(b"Kids").is_some());
        if is_tree {
            let kids = match dict.get(b"Kids").and_then(|k| self.resolve(k)) {
                Some(Obj::Array(kids)) => kids,
                _ => return Err(PdfError::Damaged),
            };
            for kid in &kids {
                self.walk(kid, &here, depth + 1, seen, pages)?;
            }
            return Ok(());
        }
        pages.push(Page {
            num,
            generation,
            dict,
            resources: here.resources,
            media_box: here.media_box.unwrap_or([0.0, 0.0, 612.0, 792.0]),
        });
        Ok(())
    }

    fn rect(&self, obj: &Obj) -> Option<[f64; 4]> {
        let Obj::Array(items) = self.resolve(obj)? else {
            return None;
        };
        let nums: Vec<f64> = items
            .iter()
            .map(|i| self.resolve(i).and_then(|o| o.as_number()))
            .collect::<Option<_>>()?;
        let [a, b, c, d] = <[f64; 4]>::try_from(nums).ok()?;
        Some([a.min(c), b.min(d), a.max(c), b.max(d)])
    }

    /// The streams a page draws: its `/Contents`, resolved to object numbers.
    #[must_use]
    pub fn content_streams(&self, page: &Page) -> Vec<u32> {
        match page.dict.get(b"Contents") {
            Some(Obj::Ref(n, _)) => match self.object(*n) {
                // An indirect array of streams.
                Some(Obj::Array(items)) => refs(&items),
                _ => vec![*n],
            },
            Some(Obj::Array(items)) => refs(items),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Inherited {
    resources: Option<Obj>,
    media_box: Option<[f64; 4]>,
}

fn refs(items: &[Obj]) -> Vec<u32> {
    items
        .iter()
        .filter_map(|i| match i {
            Obj::Ref(n, _) => Some(*n),
            _ => None,
        })
        .collect()
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

/// Undoes a PNG predictor (`/Predictor` 10–15); 1 is none; TIFF (2) is not supported.
fn unpredict(params: &Dict, data: Vec<u8>) -> Result<Vec<u8>, PdfError> {
    let predictor = params.int(b"Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    if !(10..=15).contains(&predictor) {
        return Err(PdfError::Unsupported);
    }
    let field = |key: &[u8], default: i64, max: i64| -> Result<usize, PdfError> {
        let v = params.int(key).unwrap_or(default);
        if (1..=max).contains(&v) {
            usize::try_from(v).map_err(|_| PdfError::Unsupported)
        } else {
            Err(PdfError::Unsupported)
        }
    };
    let colors = field(b"Colors", 1, 32)?;
    let bits = field(b"BitsPerComponent", 8, 16)?;
    let columns = field(b"Columns", 1, 1 << 24)?;
    let bpp = (colors * bits).div_ceil(8).max(1);
    let row_len = (colors * bits * columns).div_ceil(8);
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let Some((&filter, row)) = chunk.split_first() else {
            break;
        };
        let mut cur = row.to_vec();
        cur.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp {
                cur.get(i - bpp).copied().unwrap_or(0)
            } else {
                0
            };
            let up = prev.get(i).copied().unwrap_or(0);
            let up_left = if i >= bpp {
                prev.get(i - bpp).copied().unwrap_or(0)
            } else {
                0
            };
            let add = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => u8::try_from((u16::from(left) + u16::from(up)) / 2).unwrap_or(0),
                4 => paeth(left, up, up_left),
                _ => return Err(PdfError::Damaged),
            };
            if let Some(b) = cur.get_mut(i) {
                *b = b.wrapping_add(add);
            }
        }
        out.extend_from_slice(cur.get(..row.len().min(row_len)).unwrap_or_default());
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Where `n g obj` begins, given the offset of its `obj` keyword.
fn object_header_start(data: &[u8], obj_at: usize) -> Option<usize> {
    // `obj` must end a token.
    if data
        .get(obj_at + 3)
        .is_some_and(|&b| !is_white(b) && !object::is_delimiter(b))
    {
        return None;
    }
    let mut i = obj_at;
    let mut back = |need_digits: bool| -> Option<()> {
        let mut spaces = 0;
        while i > 0 && data.get(i - 1).is_some_and(|&b| is_white(b)) {
            i -= 1;
            spaces += 1;
        }
        let end = i;
        while i > 0 && data.get(i - 1).is_some_and(u8::is_ascii_digit) && end - i < 10 {
            i -= 1;
        }
        (spaces > 0 && (!need_digits || i < end)).then_some(())
    };
    back(true)?;
    back(true)?;
    // The number must start a token.
    if i > 0
        && data
            .get(i - 1)
            .is_some_and(|&b| !is_white(b) && !object::is_delimiter(b))
    {
        return None;
    }
    Some(i)
}

/// The first offset of `needle` in `hay`.
#[must_use]
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The last offset of `needle` in `hay`.
#[must_use]
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::demo::{Line, render_pdf};
    use std::io::Write as _;

    fn letter() -> Vec<u8> {
        render_pdf(&[
            Line::Heading("Discharge summary".into()),
            Line::Text("Seen today.".into()),
        ])
    }

    #[test]
    fn a_demo_letter_has_one_page_with_its_text_in_the_content_stream() {
        let bytes = letter();
        let pdf = PdfFile::parse(&bytes).unwrap();
        assert!(!pdf.recovered);
        let pages = pdf.pages().unwrap();
        assert_eq!(pages.len(), 1);
        let streams = pdf.content_streams(&pages[0]);
        let (dict, raw) = pdf.stream(streams[0]).unwrap();
        let text = pdf.decode(&dict, raw).unwrap();
        assert!(find(&text, b"Discharge summary").is_some());
        assert_eq!(pages[0].media_box, [0.0, 0.0, 595.0, 842.0]);
    }

    #[test]
    fn a_file_with_a_broken_cross_reference_is_recovered_by_scanning() {
        let mut bytes = letter();
        let at = rfind(&bytes, b"startxref").unwrap();
        bytes.truncate(at);
        bytes.extend_from_slice(b"startxref\n999999\n%%EOF\n");
        let pdf = PdfFile::parse(&bytes).unwrap();
        assert!(pdf.recovered);
        assert_eq!(pdf.pages().unwrap().len(), 1);
    }

    #[test]
    fn flate_streams_with_png_predictors_decode() {
        // Two rows of three bytes, filter "up" on the second.
        let rows = [0u8, 1, 2, 3, 2, 1, 1, 1];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&rows).unwrap();
        let raw = z.finish().unwrap();
        let mut text =
            b"%PDF-1.5\n1 0 obj\n<< /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 3 >> /Length "
                .to_vec();
        text.extend_from_slice(format!("{} >>\nstream\n", raw.len()).as_bytes());
        text.extend_from_slice(&raw);
        text.extend_from_slice(b"\nendstream\nendobj\n2 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 2 0 R >>\n");
        let pdf = PdfFile::parse(&text).unwrap();
        let (dict, raw) = pdf.stream(1).unwrap();
        assert_eq!(pdf.decode(&dict, raw).unwrap(), vec![1, 2, 3, 2, 3, 4]);
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..70 {
            z.write_all(&zeros).unwrap();
        }
        let raw = z.finish().unwrap();
        let mut dict = Dict::default();
        dict.set(b"Filter", Obj::Name(b"FlateDecode".to_vec()));
        let head = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj trailer << /Root 1 0 R >>";
        let pdf = PdfFile::parse(head).unwrap();
        assert_eq!(pdf.decode(&dict, &raw), Err(PdfError::TooLarge));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u64;
        let base = letter();
        for round in 0..300 {
            let mut bytes = base.clone();
            for _ in 0..(round % 20 + 1) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let at = (seed >> 33) as usize % bytes.len();
                bytes[at] = (seed >> 17) as u8;
            }
            if round % 3 == 0 {
                bytes.truncate((seed >> 40) as usize % bytes.len());
            }
            if let Ok(pdf) = PdfFile::parse(&bytes)
                && let Ok(pages) = pdf.pages()
            {
                for p in &pages {
                    for s in pdf.content_streams(p) {
                        if let Some((d, raw)) = pdf.stream(s) {
                            let _ = pdf.decode(&d, raw);
                        }
                    }
                }
            }
        }
    }
}
