//! Images in and out as archives, and images from containers: save, load, commit, export.

use std::io::{Read, Write};
use std::sync::Arc;

use berth_api::types::ContainerConfig;
use berth_archive::{TarOptions, WhiteoutMode};
use berth_image::archive::{Loaded, SaveItem};
use berth_image::config::{History, RunDefaults};
use berth_image::save::SavePlan;
use berth_image::{Digest, Reference};

use super::record::ContainerDirs;
use super::Engine;
use crate::error::EngineError;

/// What `POST /commit` asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub changes: Vec<String>,
    pub pause: bool,
    /// Config fields from the request body that override the container's.
    pub config: ContainerConfig,
}

/// A container config as the image defaults it becomes on commit.
fn to_defaults(c: &ContainerConfig) -> RunDefaults {
    RunDefaults {
        user: c.user.clone(),
        exposed_ports: (!c.exposed_ports.is_empty()).then(|| c.exposed_ports.clone()),
        env: (!c.env.is_empty()).then(|| c.env.clone()),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        healthcheck: c.healthcheck.as_ref().and_then(|h| serde_json::to_value(h).ok()),
        volumes: (!c.volumes.is_empty()).then(|| c.volumes.clone()),
        working_dir: c.working_dir.clone(),
        labels: (!c.labels.is_empty()).then(|| c.labels.clone()),
        stop_signal: c.stop_signal.clone(),
        on_build: c.on_build.clone(),
        shell: c.shell.clone(),
        ..Default::default()
    }
}

/// Applies the non-empty fields of a commit body over the defaults.
fn override_defaults(d: &mut RunDefaults, o: &ContainerConfig) {
    let o = to_defaults(o);
    if !o.user.is_empty() {
        d.user = o.user;
    }
    if o.cmd.is_some() {
        d.cmd = o.cmd;
    }
    if o.entrypoint.is_some() {
        d.entrypoint = o.entrypoint;
    }
    if o.env.is_some() {
        d.env = o.env;
    }
    if o.exposed_ports.is_some() {
        d.exposed_ports = o.exposed_ports;
    }
    if o.labels.is_some() {
        d.labels = o.labels;
    }
    if !o.working_dir.is_empty() {
        d.working_dir = o.working_dir;
    }
    if o.volumes.is_some() {
        d.volumes = o.volumes;
    }
}

fn reference(repo: &str, tag: &str) -> Result<Option<Reference>, EngineError> {
    if repo.is_empty() {
        return Ok(None);
    }
    let full = if tag.is_empty() { repo.to_string() } else { format!("{repo}:{tag}") };
    Reference::parse_tagged(&full).map(Some).map_err(|e| EngineError::Invalid(e.to_string()))
}

impl Engine {
    /// The images `names` name, with the tags to record in the archive.
    pub fn save_items(&self, names: &[String]) -> Result<Vec<SaveItem>, EngineError> {
        let mut items: Vec<SaveItem> = Vec::new();
        for name in names {
            let rec = self.images.resolve(name)?;
            // Saving by tag records that tag; by id, every tag of the image.
            let all = self.images.tags_of(&rec.id)?;
            let tags = match Reference::parse_tagged(name) {
                Ok(r) if all.contains(&r) => vec![r],
                _ => all,
            };
            match items.iter_mut().find(|i| i.record.id == rec.id) {
                Some(existing) => {
                    for t in tags {
                        if !existing.tags.contains(&t) {
                            existing.tags.push(t);
                        }
                    }
                }
                None => items.push(SaveItem { record: rec, tags }),
            }
        }
        Ok(items)
    }

    /// What saving the images `names` name writes (blocking: a layer may be archived again to
    /// find its bytes); an image that cannot be saved is an error here, before any byte.
    pub fn save_plan(&self, names: &[String]) -> Result<SavePlan, EngineError> {
        let items = self.save_items(names)?;
        Ok(self.images.plan_save(items)?)
    }

    /// Writes the archive of `plan` (blocking).
    pub fn save_blocking(&self, plan: &SavePlan, out: impl Write) -> Result<(), EngineError> {
        Ok(self.images.save(plan, out)?)
    }

    /// Loads an archive (blocking).
    pub fn load_blocking(&self, input: impl Read) -> Result<Vec<Loaded>, EngineError> {
        let loaded = self.images.load(input)?;
        for l in &loaded {
            self.events.publish("image", "load", &l.id, Default::default());
        }
        Ok(loaded)
    }

    /// `POST /commit`: the container's changes as a new layer on its image.
    pub async fn commit(self: &Arc<Self>, req: CommitRequest) -> Result<String, EngineError> {
        let h = self.containers.get(&req.container)?;
        let rec = h.snapshot();
        let target = reference(&req.repo, &req.tag)?;
        super::changes::apply_changes(&mut RunDefaults::default(), &req.changes)?;
        let pause = req.pause && rec.state.status == super::record::Status::Running;
        if pause {
            self.set_paused(&rec.id, true).await?;
        }
        let this = self.clone();
        let rec2 = rec.clone();
        let result = Self::blocking(move || {
            let base = this.images.get(&rec2.image_id)?.ok_or_else(|| EngineError::NotFound(format!("No such image: {}", rec2.image)))?;
            let top = base.layers.last().map(|l| Digest::parse(&l.chain_id)).transpose().map_err(|e| EngineError::Internal(e.to_string()))?;
            let upper = ContainerDirs::new(&this.config.data_root, &rec2.id).upper();
            let layer = this.images.layer_from_upper(top.as_ref(), &upper)?;
            let mut config = this.images.config(&base)?;
            let mut defaults = to_defaults(&rec2.config);
            override_defaults(&mut defaults, &req.config);
            super::changes::apply_changes(&mut defaults, &req.changes)?;
            config.config = defaults;
            config.author = req.author.clone();
            config.comment = req.comment.clone();
            let mut created_by = rec2.path.clone();
            for a in &rec2.args {
                created_by.push(' ');
                created_by.push_str(a);
            }
            let history = History { created_by, author: req.author.clone(), comment: req.comment.clone(), ..Default::default() };
            let image = this.images.derive(Some(&base), Some(layer), config, history)?;
            if let Some(r) = &target {
                this.images.tag(&image.id, r)?;
            }
            Ok(image.id)
        })
        .await;
        if pause {
            let _ = self.set_paused(&rec.id, false).await;
        }
        let id = result?;
        self.container_event(&rec, "commit", &[]);
        Ok(id)
    }

    /// `GET /containers/{id}/export`: the container's whole filesystem as a tar (blocking).
    pub fn export_blocking(&self, name: &str, out: impl Write) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let rec = h.snapshot();
        let image = self.images.get(&rec.image_id)?.ok_or_else(|| EngineError::NotFound(format!("No such image: {}", rec.image)))?;
        let dirs = ContainerDirs::new(&self.config.data_root, &rec.id);
        // A read-only view: the layers plus the upper dir as one more lower, so exporting a
        // stopped container never creates a work dir or touches its writable layer.
        let mut overlay = self.images.container_overlay(&image, dirs.upper(), dirs.work())?;
        overlay.lowers.insert(0, dirs.upper());
        let target = self.config.exec_root.join("export").join(berth_image::random_hex(8));
        std::fs::create_dir_all(&target).map_err(|e| EngineError::internal("create export mount point", e))?;
        let result = mount_readonly(&overlay.lowers, &target).and_then(|()| {
            let r = berth_archive::write_tar_from_dir(&target, out, &TarOptions::new(WhiteoutMode::Plain))
                .map(|_| ())
                .map_err(|e| EngineError::Internal(format!("export {}: {e}", rec.id)));
            let _ = berth_image::mount::unmount(&target);
            r
        });
        let _ = std::fs::remove_dir(&target);
        result?;
        self.container_event(&rec, "export", &[]);
        Ok(())
    }
}

/// Mounts `lowers` (topmost first) as a read-only overlay at `target`.
fn mount_readonly(lowers: &[std::path::PathBuf], target: &std::path::Path) -> Result<(), EngineError> {
    let list: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = if list.len() == 1 {
        // overlay needs two lowers without an upper; a single layer is bind-mounted instead.
        return nix::mount::mount(Some(lowers[0].as_path()), target, None::<&str>, nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_RDONLY, None::<&str>)
            .map_err(|e| EngineError::internal("mount export view", e));
    } else {
        format!("lowerdir={}", list.join(":"))
    };
    nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::MS_RDONLY, Some(data.as_str()))
        .map_err(|e| EngineError::internal("mount export view", e))
}
