/*  What the terraform actor reads from terraform and writes for it
    (actors/terraform/tfvars.h). The first byte picks what the rest is:
      0  `terraform output -json` (ll_tf_parse_outputs)
      1  one output line (ll_tf_clean_line, ll_tf_event)
      2  an RFC 3339 time (ll_tf_parse_time)
      3  a value written into terraform.runtime.tfvars (ll_tf_hcl_string):
         decoded the way HCL reads a quoted string, it gives the value
         back, and nothing in it opens a template (${ or %{)
      4  `terraform state list` then a VM name (ll_tf_state_has_vm) */
#include "fuzz_support.h"

#include "actors/terraform/tfvars.h"

static void
s_outputs (const char *json, size_t len)
{
    ll_tf_vm_t *vms = NULL;
    size_t count = 0;
    char error[128] = "";
    if (ll_tf_parse_outputs (json, len, &vms, &count, error, sizeof error)
        != 0) {
        FUZZ_CHECK (error[0] != '\0');
        return;
    }
    for (size_t i = 0; i < count; i++) {
        FUZZ_CHECK (vms[i].name != NULL);
        FUZZ_CHECK (vms[i].ssh_port >= 0 && vms[i].ssh_port <= 65535);
    }
    ll_tf_vms_free (&vms, count);
    FUZZ_CHECK (vms == NULL);
}

static void
s_line (char *line, size_t len)
{
    size_t n = ll_tf_clean_line (line, len);
    FUZZ_CHECK (n <= len && n <= LL_TF_LINE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) line[i];
        FUZZ_CHECK ((c >= 0x20 || c == '\t') && c != 0x7f);
    }
    line[n] = '\0';
    char text[LL_TF_LINE_MAX + 1];
    ll_tf_line_t kind;
    if (ll_tf_event (line, text, sizeof text, &kind) == 0)
        FUZZ_CHECK (strlen (text) <= n);
    else
        FUZZ_CHECK (kind == LL_TF_LINE_OTHER);
}

//  Decode an HCL quoted string (what terraform reads) into out; -1 when
//  it is not one or a template opens in it.
static int
s_hcl_decode (const char *text, size_t len, char *out, size_t *out_len)
{
    size_t n = 0;
    if (len < 2 || text[0] != '"' || text[len - 1] != '"')
        return -1;
    for (size_t i = 1; i < len - 1; i++) {
        char c = text[i];
        if (c == '"')
            return -1;  //  the string would end here
        if (c == '\\') {
            char e = text[++i];
            if (i >= len - 1)
                return -1;
            if (e == 'n')
                out[n++] = '\n';
            else if (e == 'r')
                out[n++] = '\r';
            else if (e == 't')
                out[n++] = '\t';
            else if (e == '"' || e == '\\')
                out[n++] = e;
            else if (e == 'u' && i + 4 < len - 1) {
                char hex[5] = {text[i + 1], text[i + 2], text[i + 3],
                               text[i + 4], '\0'};
                out[n++] = (char) strtol (hex, NULL, 16);
                i += 4;
            }
            else
                return -1;
        }
        else if ((c == '$' || c == '%') && text[i + 1] == c
                 && text[i + 2] == '{') {
            out[n++] = c;  //  $${ and %%{ stand for ${ and %{
            out[n++] = '{';
            i += 2;
        }
        else if ((c == '$' || c == '%') && text[i + 1] == '{')
            return -1;  //  a template would open
        else
            out[n++] = c;
    }
    *out_len = n;
    return 0;
}

static void
s_hcl (const char *value)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&text, &size);
    if (!f)
        abort ();
    ll_tf_hcl_string (f, value);
    fclose (f);
    char *decoded = malloc (size + 1);
    if (!decoded)
        abort ();
    size_t len = 0;
    FUZZ_CHECK (s_hcl_decode (text, size, decoded, &len) == 0);
    FUZZ_CHECK (len == strlen (value) && memcmp (decoded, value, len) == 0);
    free (decoded);
    free (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = (uint8_t) (data[0] - '0') % 5;
    char *text = fuzz_text (data + 1, size - 1);
    size_t len = size - 1;
    if (mode == 0)
        s_outputs (text, len);
    else if (mode == 1)
        s_line (text, len);
    else if (mode == 2)
        ll_tf_parse_time (text);
    else if (mode == 3)
        s_hcl (text);
    else {
        char *name = strchr (text, '\n');
        if (name)
            *name++ = '\0';
        ll_tf_state_has_vm (text, name ? name : "vm-1");
    }
    free (text);
    return 0;
}
