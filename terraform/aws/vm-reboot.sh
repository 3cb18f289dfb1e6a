#!/usr/bin/env bash
# terraform/aws's reboot (REBOOT-VM, POST /api/reboot-vm): EC2's
# RebootInstances for the VM's instance, through the AWS CLI with the
# allocator's credentials (the host's instance role). The instance keeps its
# disk and the client container (--restart unless-stopped), so an assigned
# student's desktop comes back (a warm reboot). `terraform apply -replace`
# is not a reboot: it makes a new machine (POST /api/vms/<hostname>/replace).
#   vm-reboot.sh NAME WORK_DIR [TERRAFORM_BIN]
# Needs: the aws CLI on PATH (v1 or v2) and ec2:RebootInstances on the
# client instances (tag lablink_client_<environment>); the instance id comes
# from terraform's state in WORK_DIR, the region from its tfvars.
set -euo pipefail
name=${1:?usage: vm-reboot.sh NAME WORK_DIR [TERRAFORM_BIN]}
work=${2:?usage: vm-reboot.sh NAME WORK_DIR [TERRAFORM_BIN]}
tf=${3:-terraform}
case $name in *[!A-Za-z0-9._-]* | "") echo "invalid VM name: $name" >&2; exit 2 ;; esac
command -v aws >/dev/null || { echo "the aws CLI is not installed: cannot reboot $name" >&2; exit 1; }
id=$("$tf" -chdir="$work" state show -no-color "aws_instance.vm[\"$name\"]" \
    | sed -n 's/^ *id *= *"\(i-[0-9a-f]*\)".*/\1/p' | head -n 1)
[ -n "$id" ] || { echo "$name: no instance in terraform's state" >&2; exit 1; }
region=$(sed -n 's/^region *= *"\([a-z0-9-]*\)".*/\1/p' "$work/terraform.runtime.tfvars" | head -n 1)
[ -n "$region" ] || { echo "no region in $work/terraform.runtime.tfvars" >&2; exit 1; }
aws ec2 reboot-instances --region "$region" --instance-ids "$id"
echo "$name: reboot of $id requested"
