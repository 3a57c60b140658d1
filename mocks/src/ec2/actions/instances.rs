//! Instance and ENI actions: DescribeInstanceAttribute and ModifyInstanceAttribute for
//! `sourceDestCheck` (an instance's value is its primary ENI's, as on EC2),
//! ModifyNetworkInterfaceAttribute, CreateTags and TerminateInstances (which deletes the
//! instance's ENIs, so routes to it turn into blackholes).

use super::super::error::ApiError;
use super::super::query::Params;
use super::super::world::{InstanceState, World};
use super::super::xml::Xml;
use super::{
    check_instance_id, eni_not_found, instances_not_found, returned_true, route_table_not_found,
};

/// The instance named by `InstanceId`, checked for syntax and existence.
fn instance_index(p: &Params, w: &World) -> Result<usize, ApiError> {
    let id = p.require("InstanceId")?;
    check_instance_id(id)?;
    w.instances
        .iter()
        .position(|i| i.id == id)
        .ok_or_else(|| instances_not_found(&[id]))
}

pub fn describe_attribute(p: &Params, w: &World) -> Result<String, ApiError> {
    let attribute = p.require("Attribute")?;
    let ii = instance_index(p, w)?;
    let inst = &w.instances[ii];
    if attribute != "sourceDestCheck" {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({attribute}) for parameter attribute is invalid. Only sourceDestCheck is supported by this mock."
        )));
    }
    let mut x = Xml::new();
    x.leaf("instanceId", &inst.id).node("sourceDestCheck", |x| {
        x.leaf("value", inst.source_dest_check());
    });
    Ok(x.into_string())
}

/// The new `sourceDestCheck`, sent either as `SourceDestCheck.Value=…` (what the SDKs send) or
/// as `Attribute=sourceDestCheck&Value=…` (the older form).
fn source_dest_check(p: &Params) -> Result<bool, ApiError> {
    if let Some(v) = p.bool("SourceDestCheck.Value")? {
        return Ok(v);
    }
    match p.get("Attribute") {
        Some("sourceDestCheck") => p
            .bool("Value")?
            .ok_or_else(|| ApiError::missing_parameter("Value")),
        Some(other) => Err(ApiError::invalid_parameter_value(format!(
            "Value ({other}) for parameter attribute is invalid. Only sourceDestCheck is supported by this mock."
        ))),
        None => Err(ApiError::invalid_parameter_combination(
            "No attribute to modify: this mock supports SourceDestCheck only",
        )),
    }
}

pub fn modify_attribute(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let ii = instance_index(p, w)?;
    let value = source_dest_check(p)?;
    let inst = &mut w.instances[ii];
    if inst.state == InstanceState::Terminated {
        return Err(ApiError::client(
            "IncorrectInstanceState",
            format!(
                "The instance '{}' is not in a state from which it can be modified.",
                inst.id
            ),
        ));
    }
    // The instance attribute is the primary interface's flag.
    if let Some(eni) = inst
        .network_interfaces
        .iter_mut()
        .find(|e| e.device_index == 0)
    {
        eni.source_dest_check = value;
    }
    Ok(returned_true())
}

pub fn modify_eni_attribute(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let id = p.require("NetworkInterfaceId")?.to_string();
    let Some(value) = p.bool("SourceDestCheck.Value")? else {
        return Err(ApiError::invalid_parameter_combination(
            "No attribute to modify: this mock supports SourceDestCheck only",
        ));
    };
    let eni = w
        .instances
        .iter_mut()
        .flat_map(|i| i.network_interfaces.iter_mut())
        .find(|e| e.id == id)
        .ok_or_else(|| eni_not_found(&id))?;
    eni.source_dest_check = value;
    Ok(returned_true())
}

pub fn create_tags(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let resources = p.list("ResourceId");
    if resources.is_empty() {
        return Err(ApiError::missing_parameter("ResourceId"));
    }
    let tags = p.tags()?;
    if tags.is_empty() {
        return Err(ApiError::missing_parameter("Tag"));
    }
    // Check every resource before changing any: EC2 applies CreateTags all or nothing.
    for r in &resources {
        if w.tags_mut(r).is_some() {
            continue;
        }
        return Err(match r.split('-').next().unwrap_or("") {
            "i" => {
                check_instance_id(r)?;
                instances_not_found(&[r])
            }
            "rtb" => route_table_not_found(r),
            "vpc" => ApiError::client(
                "InvalidVpcID.NotFound",
                format!("The vpc ID '{r}' does not exist"),
            ),
            "subnet" => ApiError::client(
                "InvalidSubnetID.NotFound",
                format!("The subnet ID '{r}' does not exist"),
            ),
            _ => ApiError::client("InvalidID", format!("The ID '{r}' is not valid")),
        });
    }
    for r in &resources {
        if let Some(t) = w.tags_mut(r) {
            for (k, v) in &tags {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(returned_true())
}

pub fn terminate(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let ids = p.list("InstanceId");
    if ids.is_empty() {
        return Err(ApiError::missing_parameter("InstanceId"));
    }
    for id in &ids {
        check_instance_id(id)?;
    }
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| w.instance(id).is_none())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(instances_not_found(&missing));
    }
    let mut changes = Vec::new();
    for id in &ids {
        if let Some(prev) = w.terminate_instance(id) {
            changes.push((id, prev));
        }
    }
    let mut x = Xml::new();
    x.set("instancesSet", changes, |x, (id, prev)| {
        // EC2 answers `shutting-down` and reaches `terminated` later; the mock is there at once
        // and says so, which a client must accept either way.
        x.leaf("instanceId", id)
            .node("currentState", |x| {
                x.leaf("code", InstanceState::Terminated.code())
                    .leaf("name", InstanceState::Terminated.name());
            })
            .node("previousState", |x| {
                x.leaf("code", prev.code()).leaf("name", prev.name());
            });
    });
    Ok(x.into_string())
}
