//! `GET /system/df`: disk usage as `docker system df` reads it — images with how many
//! containers use them, containers with their writable layer size (`SizeRw`) and total size
//! (`SizeRootFs`), volumes with `UsageData` (the CLI dereferences it), the layers' total and an
//! empty build cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::filters::Filters;
use berth_api::types::VolumeUsage;
use serde_json::{json, Value};

use super::lifecycle::dir_size;
use super::record::ContainerDirs;
use super::Engine;
use crate::error::EngineError;

impl Engine {
    /// The `/system/df` answer.
    pub async fn system_df(self: &Arc<Self>) -> Result<Value, EngineError> {
        let this = self.clone();
        Self::blocking(move || this.system_df_blocking()).await
    }

    fn system_df_blocking(&self) -> Result<Value, EngineError> {
        let recs: Vec<_> = self.containers.all().iter().map(|h| h.snapshot()).collect();
        let mut users: BTreeMap<String, i64> = BTreeMap::new();
        for r in &recs {
            *users.entry(r.image_id.clone()).or_default() += 1;
        }
        let mut images = self.list_images(true, &Filters::default())?;
        for i in &mut images {
            i.containers = users.get(&i.id).copied().unwrap_or(0);
            i.shared_size = 0;
        }
        let layers: i64 = images.iter().map(|i| i.size).sum();
        let image_size: BTreeMap<String, i64> = images.iter().map(|i| (i.id.clone(), i.size)).collect();
        let mut containers = self.list_containers(true, None, &Filters::default())?;
        for c in &mut containers {
            let rw = dir_size(&ContainerDirs::new(&self.config.data_root, &c.id).upper()) as i64;
            c.size_rw = Some(rw);
            c.size_root_fs = Some(rw + image_size.get(&c.image_id).copied().unwrap_or(0));
        }
        let mut volumes = Vec::new();
        for v in self.volumes.list()? {
            let mut api = self.volumes.to_api(&v);
            let refs = recs.iter().filter(|r| r.mounts.iter().any(|m| m.typ == "volume" && m.name == v.name)).count() as i64;
            api.usage_data = Some(VolumeUsage { size: dir_size(std::path::Path::new(&api.mountpoint)) as i64, ref_count: refs });
            volumes.push(api);
        }
        Ok(json!({
            "LayersSize": layers,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        }))
    }
}
