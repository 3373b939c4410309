//! The one status writer: server-side apply of an object's status with the operator's field
//! manager, at the resourceVersion the caller read (a conflict means someone wrote since; the
//! caller decides what to do with it).

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::contract::FIELD_MANAGER;

/// Apply `status` to `obj`'s status subresource, precondition `obj`'s resourceVersion.
pub async fn apply<K, S>(api: &Api<K>, obj: &K, status: &S) -> kube::Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": obj.name_any(), "resourceVersion": obj.resource_version() },
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
}
