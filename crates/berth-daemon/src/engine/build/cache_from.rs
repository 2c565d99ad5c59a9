//! `--cache-from`: images (pulled or loaded, so without the intermediate images of the build
//! that made them) used as the build cache, as the classic builder does.
//!
//! A step on top of `parent` is found in a source image when the source's history starts
//! with the parent's history and its layers with the parent's layers, and the source's next
//! history entry records the same step (`created_by`, which carries the command, the
//! expanded arguments and the checksums of copied files). The step's image is then rebuilt
//! from the parent, that history entry and the source's matching layer; at the source's last
//! entry it is the source image itself. Once a source matched, the rest of the stage only
//! looks at that source. With sources given, a local cache hit counts only when it is an
//! ancestor of a source (the classic builder's rule, so `--cache-from` decides what is
//! reused).

use berth_image::config::{History, ImageConfig};
use berth_image::{ImageRecord, ImageStore, LayerRecord};

/// The resolved `--cache-from` images of a build.
#[derive(Default)]
pub struct CacheSources {
    all: Vec<(ImageRecord, ImageConfig)>,
    /// Index into `all` of the source the current stage matched; `None` before a match.
    matched: Option<usize>,
}

/// What a source offers for a step.
#[derive(Debug, Clone)]
pub enum Found {
    /// The step is the source's last history entry: the source image itself.
    Whole(ImageRecord),
    /// A history entry and the layer it made (`None` for a config-only step), to stack on
    /// the parent.
    Step { history: History, layer: Option<LayerRecord> },
}

impl CacheSources {
    /// Resolves `names`; names that are not local images are skipped (the classic builder
    /// only logs them), as are images without history.
    pub fn resolve(images: &ImageStore, names: &[String]) -> Self {
        let mut all = Vec::new();
        for name in names.iter().filter(|n| !n.is_empty()) {
            let found = images.resolve(name).and_then(|rec| images.config(&rec).map(|cfg| (rec, cfg)));
            match found {
                Ok((rec, cfg)) if !cfg.history.is_empty() => {
                    if !all.iter().any(|(r, _): &(ImageRecord, ImageConfig)| r.id == rec.id) {
                        all.push((rec, cfg));
                    }
                }
                Ok(_) => tracing::warn!(image = %name, "cache-from image has no history; not used as cache"),
                Err(e) => tracing::warn!(image = %name, "could not look up cache-from image, skipping: {e}"),
            }
        }
        Self { all, matched: None }
    }

    /// Whether any source was given and found.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// A new stage looks at every source again.
    pub fn reset(&mut self) {
        self.matched = None;
    }

    /// Whether `id` is a strict ancestor of a source through parent links.
    pub fn has_descendant_of(&self, images: &ImageStore, id: &str) -> bool {
        self.all.iter().any(|(rec, _)| {
            let mut current = rec.parent.clone();
            for _ in 0..10_000 {
                if current.is_empty() {
                    return false;
                }
                if current == id {
                    return true;
                }
                current = match images.get(&current) {
                    Ok(Some(p)) => p.parent,
                    _ => return false,
                };
            }
            false
        })
    }

    /// The step `created_by` on top of `parent` (its config; `None` for an empty `scratch`),
    /// if a source has it.
    pub fn find(&mut self, parent: Option<&ImageConfig>, created_by: &str) -> Option<Found> {
        let candidates: Vec<usize> = match self.matched {
            Some(i) => vec![i],
            None => (0..self.all.len()).collect(),
        };
        for i in candidates {
            let (rec, cfg) = &self.all[i];
            let Some(n) = continues(cfg, parent) else { continue };
            let Some(entry) = cfg.history.get(n).filter(|h| h.created_by == created_by) else { continue };
            let found = if n + 1 == cfg.history.len() {
                Found::Whole(rec.clone())
            } else {
                let layer = if entry.empty_layer {
                    None
                } else {
                    let index = cfg.history[..n].iter().filter(|h| !h.empty_layer).count();
                    match rec.layers.get(index) {
                        Some(l) => Some(l.clone()),
                        None => continue,
                    }
                };
                Found::Step { history: entry.clone(), layer }
            };
            self.matched = Some(i);
            return Some(found);
        }
        self.matched = None;
        None
    }
}

/// The index of the source's history entry that would follow `parent`, when the source's
/// history and layers start with the parent's.
fn continues(source: &ImageConfig, parent: Option<&ImageConfig>) -> Option<usize> {
    let Some(parent) = parent.filter(|p| !(p.history.is_empty() && p.rootfs.diff_ids.is_empty())) else {
        return Some(0);
    };
    let (ph, sh) = (&parent.history, &source.history);
    if ph.len() >= sh.len() || parent.rootfs.diff_ids.len() > source.rootfs.diff_ids.len() {
        return None;
    }
    if ph.iter().zip(sh).any(|(a, b)| a != b) {
        return None;
    }
    if parent.rootfs.diff_ids.iter().zip(&source.rootfs.diff_ids).any(|(a, b)| a != b) {
        return None;
    }
    Some(ph.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(by: &str, empty: bool) -> History {
        History { created_by: by.into(), empty_layer: empty, created: Some("2020-01-01T00:00:00Z".into()), ..Default::default() }
    }

    fn cfg(history: Vec<History>, diffs: &[&str]) -> ImageConfig {
        let mut c = ImageConfig::new_for_host();
        c.history = history;
        c.rootfs.diff_ids = diffs.iter().map(|d| d.to_string()).collect();
        c
    }

    fn layer(diff: &str) -> LayerRecord {
        LayerRecord { diff_id: diff.into(), chain_id: diff.into(), blob: String::new(), media_type: String::new(), blob_size: 0, size: 0 }
    }

    fn sources(c: ImageConfig, layers: &[&str]) -> CacheSources {
        let rec = ImageRecord {
            id: "sha256:src".into(),
            manifest_digest: String::new(),
            layers: layers.iter().map(|d| layer(d)).collect(),
            parent: String::new(),
            repo_digests: Vec::new(),
            last_tag_time: None,
            created: 0,
        };
        CacheSources { all: vec![(rec, c)], matched: None }
    }

    #[test]
    fn steps_are_found_after_a_matching_parent() {
        let base = cfg(vec![hist("ADD rootfs", false)], &["d1"]);
        let src = cfg(vec![hist("ADD rootfs", false), hist("RUN make", false), hist("ENV A=1", true)], &["d1", "d2"]);
        let mut s = sources(src, &["d1", "d2"]);
        match s.find(Some(&base), "RUN make") {
            Some(Found::Step { history, layer }) => {
                assert_eq!(history.created_by, "RUN make");
                assert_eq!(layer.map(|l| l.diff_id), Some("d2".into()));
            }
            other => panic!("{other:?}"),
        }
        let after = cfg(vec![hist("ADD rootfs", false), hist("RUN make", false)], &["d1", "d2"]);
        assert!(matches!(s.find(Some(&after), "ENV A=1"), Some(Found::Whole(r)) if r.id == "sha256:src"));
        // Another command, or a parent whose history differs, is a miss.
        assert!(s.find(Some(&base), "RUN other").is_none());
        let other = cfg(vec![hist("ADD another", false)], &["d1"]);
        assert!(s.find(Some(&other), "RUN make").is_none());
        let longer = cfg(vec![hist("ADD rootfs", false)], &["d1", "dx"]);
        assert!(continues(&cfg(vec![hist("ADD rootfs", false), hist("x", true)], &["d1"]), Some(&longer)).is_none());
    }

    #[test]
    fn scratch_parents_match_from_the_first_entry() {
        let src = cfg(vec![hist("COPY file:x in / ", false), hist("CMD [\"/x\"]", true)], &["d1"]);
        let mut s = sources(src, &["d1"]);
        assert!(matches!(s.find(None, "COPY file:x in / "), Some(Found::Step { layer: Some(_), .. })));
        let empty = ImageConfig::new_for_host();
        assert!(matches!(s.find(Some(&empty), "COPY file:x in / "), Some(Found::Step { .. })));
    }
}
