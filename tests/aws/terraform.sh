# terraform offline in tests (sourced): tf_offline DIR sets terraform up for
# automation (no checkpoint calls, an empty CLI config in $T) and writes
# DIR/offline_override.tf, which keeps the aws provider of the module in DIR
# from calling AWS (fake keys, no account, region or metadata look-ups), so
# that init from the plugin mirror, validate, plan and console run offline.
tf_offline() {
    export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
    : >"$T/terraformrc"
    export TF_CLI_CONFIG_FILE=$T/terraformrc
    cat >"$1/offline_override.tf" <<'HCL'
provider "aws" {
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
HCL
}
