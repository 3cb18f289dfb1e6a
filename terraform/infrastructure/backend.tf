# State lives in S3 (the same bucket as the client VMs' state, under another
# key). Give the rest at init time, for example:
#   terraform init -backend-config="bucket=my-lablink-state" \
#     -backend-config="key=lablink/prod/infrastructure.tfstate" \
#     -backend-config="region=us-west-2" -backend-config="use_lockfile=true"
terraform {
  backend "s3" {}
}
