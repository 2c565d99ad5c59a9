//! Image operations of the API: list, inspect, history, import, tag, remove, prune.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use berth_api::filters::Filters;
use berth_api::types::{
    ContainerConfig, GraphDriver, HistoryItem, ImageDeleteItem, ImageInspect, ImageMetadata, ImagePruneResponse, ImageRootFs, ImageSummary,
};
use berth_image::config::RunDefaults;
use berth_image::{ImageRecord, Reference};

use super::Engine;
use crate::error::EngineError;

fn short(id: &str) -> &str {
    id.strip_prefix("sha256:").map(|h| &h[..h.len().min(12)]).unwrap_or(id)
}

/// The image's defaults as a container config (how inspect shows an image's `Config`).
pub fn defaults_as_config(d: &RunDefaults) -> ContainerConfig {
    ContainerConfig {
        hostname: d.hostname.clone(),
        domainname: d.domainname.clone(),
        user: d.user.clone(),
        exposed_ports: d.exposed_ports.clone().unwrap_or_default(),
        env: d.env.clone().unwrap_or_default(),
        cmd: d.cmd.clone(),
        healthcheck: d.healthcheck.clone().and_then(|h| serde_json::from_value(h).ok()),
        args_escaped: d.args_escaped,
        volumes: d.volumes.clone().unwrap_or_default(),
        working_dir: d.working_dir.clone(),
        entrypoint: d.entrypoint.clone(),
        on_build: d.on_build.clone(),
        labels: d.labels.clone().unwrap_or_default(),
        stop_signal: d.stop_signal.clone(),
        shell: d.shell.clone(),
        ..Default::default()
    }
}

impl Engine {
    fn repo_tags(&self, id: &str) -> Result<Vec<String>, EngineError> {
        let mut tags: Vec<String> = self.images.tags_of(id)?.iter().map(|r| r.familiar()).collect();
        tags.sort();
        Ok(tags)
    }

    fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.containers.all().iter().map(|h| h.snapshot()).filter(|r| r.image_id == image_id).map(|r| r.id).collect()
    }

    /// `GET /images/json`.
    pub fn list_images(&self, all: bool, filters: &Filters) -> Result<Vec<ImageSummary>, EngineError> {
        filters.only(&["dangling", "label", "before", "since", "reference", "until"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let tags = self.images.all_tags()?;
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (r, id) in &tags {
            by_id.entry(id.clone()).or_default().push(r.familiar());
        }
        let images = self.images.list()?;
        let parents: HashSet<String> = images.iter().map(|i| i.parent.clone()).collect();
        let mut out = Vec::new();
        for img in images {
            let repo_tags = by_id.get(&img.id).cloned().unwrap_or_default();
            // Untagged parents of other images are intermediate build layers, shown with -a only.
            if !all && repo_tags.is_empty() && parents.contains(&img.id) {
                continue;
            }
            let labels = self.images.labels(&img);
            if !filters.labels_match(&labels) {
                continue;
            }
            if let Some(d) = filters.get("dangling").first() {
                let dangling = repo_tags.is_empty();
                if (d == "true" || d == "1") != dangling {
                    continue;
                }
            }
            if filters.has("reference") && !filters.get("reference").iter().any(|pat| repo_tags.iter().any(|t| reference_matches(pat, t))) {
                continue;
            }
            let mut repo_tags = repo_tags;
            repo_tags.sort();
            out.push(ImageSummary {
                id: img.id.clone(),
                parent_id: img.parent.clone(),
                repo_tags,
                repo_digests: super::distribution::familiar_repo_digests(&img.repo_digests),
                created: img.created,
                size: img.size() as i64,
                shared_size: -1,
                virtual_size: img.size() as i64,
                labels,
                containers: -1,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect, EngineError> {
        let img = self.images.resolve(name)?;
        let cfg = self.images.config(&img)?;
        let created = cfg.created.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        let mut graph = BTreeMap::new();
        if let Some(top) = img.layers.last() {
            if let Ok(d) = berth_image::Digest::parse(&top.chain_id) {
                graph.insert("UpperDir".into(), self.images.layers().diff_dir(&d).display().to_string());
            }
        }
        Ok(ImageInspect {
            id: img.id.clone(),
            repo_tags: self.repo_tags(&img.id)?,
            repo_digests: super::distribution::familiar_repo_digests(&img.repo_digests),
            parent: img.parent.clone(),
            comment: cfg.comment.clone(),
            created,
            docker_version: String::new(),
            author: cfg.author.clone(),
            config: defaults_as_config(&cfg.config),
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            size: img.size() as i64,
            virtual_size: img.size() as i64,
            graph_driver: GraphDriver { name: "overlay2".into(), data: graph },
            root_fs: ImageRootFs { typ: "layers".into(), layers: cfg.rootfs.diff_ids.clone() },
            metadata: ImageMetadata { last_tag_time: img.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) },
        })
    }

    /// `GET /images/{name}/history`.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>, EngineError> {
        let img = self.images.resolve(name)?;
        let cfg = self.images.config(&img)?;
        let mut layers = img.layers.iter();
        let mut out = Vec::new();
        for (i, h) in cfg.history.iter().enumerate() {
            let size = if h.empty_layer { 0 } else { layers.next().map(|l| l.size as i64).unwrap_or(0) };
            let last = i + 1 == cfg.history.len();
            out.push(HistoryItem {
                id: if last { img.id.clone() } else { "<missing>".into() },
                created: h.created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()).map(|t| t.timestamp()).unwrap_or(0),
                created_by: h.created_by.clone(),
                tags: if last { self.repo_tags(&img.id)? } else { Vec::new() },
                size,
                comment: h.comment.clone(),
            });
        }
        out.reverse();
        Ok(out)
    }

    /// `POST /images/create?fromSrc=-`: imports a rootfs tar.
    pub async fn import_image(
        self: &Arc<Self>,
        body: impl Read + Send + 'static,
        repo: &str,
        tag: &str,
        changes: Vec<String>,
        message: String,
    ) -> Result<String, EngineError> {
        let reference = if repo.is_empty() {
            None
        } else {
            let full = if tag.is_empty() { repo.to_string() } else { format!("{repo}:{tag}") };
            Some(Reference::parse_tagged(&full).map_err(|e| EngineError::Invalid(e.to_string()))?)
        };
        // Validate changes before reading the (possibly large) body.
        super::changes::apply_changes(&mut RunDefaults::default(), &changes)?;
        let images = self.images.clone();
        let rec = Self::blocking(move || {
            let mut err = None;
            let rec = images.import(body, |cfg| {
                if let Err(e) = super::changes::apply_changes(&mut cfg.config, &changes) {
                    err = Some(e);
                }
                if !message.is_empty() {
                    cfg.comment = message.clone();
                    if let Some(h) = cfg.history.first_mut() {
                        h.comment = message.clone();
                    }
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            if let Some(r) = &reference {
                images.tag(&rec.id, r)?;
            }
            Ok(rec)
        })
        .await?;
        self.events.publish("image", "import", &rec.id, BTreeMap::new());
        Ok(rec.id)
    }

    /// `POST /images/{name}/tag`.
    pub fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
        let img = self.images.resolve(name)?;
        let full = if tag.is_empty() { repo.to_string() } else { format!("{repo}:{tag}") };
        let r = Reference::parse_tagged(&full).map_err(|e| EngineError::Invalid(e.to_string()))?;
        if r.digest.is_some() {
            return Err(EngineError::Invalid("refusing to create a tag with a digest reference".into()));
        }
        self.images.tag(&img.id, &r)?;
        let mut attrs = BTreeMap::new();
        attrs.insert("name".into(), r.familiar());
        self.events.publish("image", "tag", &img.id, attrs);
        Ok(())
    }

    /// `DELETE /images/{name}`.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteItem>, EngineError> {
        let img = self.images.resolve(name)?;
        let tags = self.images.tags_of(&img.id)?;
        let by_ref = Reference::parse_tagged(name).ok().filter(|r| tags.contains(r));
        let users = self.containers_using(&img.id);
        let mut out = Vec::new();
        // Removing one of several tags only untags.
        if let Some(r) = &by_ref {
            if tags.len() > 1 || (!users.is_empty() && !force) {
                if !users.is_empty() && tags.len() == 1 && !force {
                    return Err(self.in_use(name, &users, force));
                }
                self.images.untag(r)?;
                out.push(ImageDeleteItem { untagged: Some(r.familiar()), deleted: None });
                self.publish_untag(&img.id, r);
                return Ok(out);
            }
        } else if tags.len() > 1 && !force {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&img.id)
            )));
        }
        if !users.is_empty() {
            if !force {
                return Err(self.in_use(name, &users, force));
            }
            // Forced: untag, but keep the image for the containers that need it.
            for r in &tags {
                self.images.untag(r)?;
                out.push(ImageDeleteItem { untagged: Some(r.familiar()), deleted: None });
                self.publish_untag(&img.id, r);
            }
            return Ok(out);
        }
        for r in &tags {
            self.images.untag(r)?;
            out.push(ImageDeleteItem { untagged: Some(r.familiar()), deleted: None });
            self.publish_untag(&img.id, r);
        }
        for d in self.images.delete_image(&img.id)? {
            out.push(ImageDeleteItem { untagged: None, deleted: Some(d) });
        }
        self.events.publish("image", "delete", &img.id, BTreeMap::new());
        Ok(out)
    }

    fn in_use(&self, name: &str, users: &[String], _force: bool) -> EngineError {
        let first = users.first().map(|u| &u[..u.len().min(12)]).unwrap_or_default();
        EngineError::Conflict(format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {first} is using its referenced image"
        ))
    }

    fn publish_untag(&self, id: &str, r: &Reference) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".into(), r.familiar());
        self.events.publish("image", "untag", id, attrs);
    }

    /// `POST /images/prune`: dangling images, or every unused image with `dangling=false`.
    pub fn prune_images(&self, filters: &Filters) -> Result<ImagePruneResponse, EngineError> {
        filters.only(&["dangling", "label", "until"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let all = filters.get("dangling").first().is_some_and(|d| d == "false" || d == "0");
        let mut out = ImagePruneResponse::default();
        let used: HashSet<String> = self.containers.all().iter().map(|h| h.snapshot().image_id).collect();
        let images: Vec<ImageRecord> = self.images.list()?;
        let parents: HashSet<String> = images.iter().map(|i| i.parent.clone()).collect();
        for img in images {
            if used.contains(&img.id) || !filters.labels_match(&self.images.labels(&img)) {
                continue;
            }
            let tags = self.images.tags_of(&img.id)?;
            if !tags.is_empty() && !all {
                continue;
            }
            if tags.is_empty() && parents.contains(&img.id) && !all {
                continue;
            }
            for r in &tags {
                self.images.untag(r)?;
                out.images_deleted.push(ImageDeleteItem { untagged: Some(r.familiar()), deleted: None });
            }
            out.space_reclaimed += img.size();
            for d in self.images.delete_image(&img.id)? {
                out.images_deleted.push(ImageDeleteItem { untagged: None, deleted: Some(d) });
            }
        }
        Ok(out)
    }
}

/// Docker's `reference` filter: a glob on the familiar name, with or without tag.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
    glob(pattern.as_bytes(), tag.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
}
