#include "http/page.h"
#include "runtime/embedded.h"
#include "runtime/textbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The characters HTML escapes, and their entities.
static const char *const s_entities[][2] = {
    {"&", "&amp;"},   {"<", "&lt;"},  {">", "&gt;"},
    {"\"", "&quot;"}, {"'", "&#39;"},
};

static void
s_put_escaped (ll_textbuf_t *buf, const char *text)
{
    for (const char *c = text; *c; c++) {
        const char *entity = NULL;
        for (size_t i = 0;
             !entity && i < sizeof s_entities / sizeof *s_entities; i++)
            if (*c == s_entities[i][0][0])
                entity = s_entities[i][1];
        if (entity)
            ll_textbuf_puts (buf, entity);
        else
            ll_textbuf_putc (buf, *c);
    }
}

size_t
ll_html_escape (const char *text, char *out, size_t size)
{
    ll_textbuf_t buf = {0};
    s_put_escaped (&buf, text);
    size_t n = buf.len < size ? buf.len : (size ? size - 1 : 0);
    if (size) {
        memcpy (out, ll_textbuf_text (&buf), n);
        out[n] = '\0';
    }
    ll_textbuf_free (&buf);
    return n;
}

static const char *
s_lookup (const char *const *vars, const char *name, size_t len)
{
    for (; vars && vars[0] && vars[1]; vars += 2)
        if (strlen (vars[0]) == len && strncmp (vars[0], name, len) == 0)
            return vars[1];
    return "";
}

//  Append the template's text with its placeholders filled; false when it
//  or a partial it includes does not exist (or partials nest too deep).
static bool
s_render (ll_textbuf_t *buf,
          const char *name,
          size_t len,
          const char *const *vars,
          int depth)
{
    char key[64];
    if (len >= sizeof key || depth > 2)
        return false;
    memcpy (key, name, len);
    key[len] = '\0';
    const ll_embedded_t *tpl = ll_embedded_find (ll_web_assets, key);
    if (!tpl)
        return false;
    const char *p = (const char *) tpl->data;
    while (*p) {
        const char *open = strstr (p, "{{");
        const char *close = open ? strstr (open + 2, "}}") : NULL;
        if (!open || !close) {
            ll_textbuf_puts (buf, p);
            break;
        }
        ll_textbuf_append (buf, p, (size_t) (open - p));
        const char *tag = open + 2;
        size_t tag_len = (size_t) (close - tag);
        p = close + 2;
        if (*tag == '>') {
            //  {{>name}}: a partial, markup two pages share, with the same
            //  values; the include's line ends it, not the file's newline
            if (!s_render (buf, tag + 1, tag_len - 1, vars, depth + 1))
                return false;
            if (*p == '\n' && buf->len && buf->data[buf->len - 1] == '\n')
                buf->data[--buf->len] = '\0';
            continue;
        }
        //  {{&name}}: HTML we built ourselves (the layout's parts), as is
        bool raw = *tag == '&';
        const char *value = s_lookup (vars, tag + raw, tag_len - raw);
        if (raw)
            ll_textbuf_puts (buf, value);
        else
            s_put_escaped (buf, value);
    }
    return true;
}

char *
ll_page_render (const char *template_name, const char *const *vars)
{
    ll_textbuf_t buf = {0};
    ll_textbuf_puts (&buf, "");
    if (!s_render (&buf, template_name, strlen (template_name), vars, 0)) {
        ll_textbuf_free (&buf);
        return NULL;
    }
    return buf.data;
}

//  Send html (taken, freed; NULL: the template is missing).
static int
s_send_html (ll_http_req_t *req, int status, char *html, const char *headers)
{
    if (!html)
        return ll_http_error (req, 500, "Page template missing.");
    int rc = ll_http_send (req, status, "text/html; charset=utf-8", html,
                           strlen (html), headers);
    free (html);
    return rc;
}

int
ll_http_page_with (ll_http_req_t *req,
                   int status,
                   const char *template_name,
                   const char *const *vars,
                   const char *extra_headers)
{
    return s_send_html (req, status, ll_page_render (template_name, vars),
                        extra_headers);
}

int
ll_http_page (ll_http_req_t *req,
              int status,
              const char *template_name,
              const char *const *vars)
{
    return ll_http_page_with (req, status, template_name, vars, NULL);
}

//  --- the admin console's layout -------------------------------------------

//  The navigation, in order: key (ll_admin_page_t.nav), path, label.
static const char *const s_nav[][3] = {
    {"dashboard", "/admin", "Dashboard"},
    {"instances", "/admin/instances", "Instances"},
    {"create", "/admin/create", "Create"},
    {"schedule", "/admin/scheduled-destruction", "Schedule"},
    {"delete", "/admin/instances/delete", "Export / Delete"},
    {"audit", "/admin/audit", "Audit"},
};

int
ll_http_admin_page (ll_http_req_t *req,
                    int status,
                    const ll_admin_page_t *page,
                    const char *const *extra)
{
    //  Every page knows the user and the CSRF token
    const char *vars[48] = {"user", req->actor, "csrf", req->csrf};
    size_t n = 4;
    for (; extra && extra[0] && extra[1] && n + 3 < 48; extra += 2) {
        vars[n++] = extra[0];
        vars[n++] = extra[1];
    }
    vars[n] = NULL;
    char *body = ll_page_render (page->template_name, vars);
    if (!body)
        return ll_http_error (req, 500, "Page template missing.");
    ll_textbuf_t nav = {0};
    for (size_t i = 0; i < sizeof s_nav / sizeof s_nav[0]; i++) {
        bool current = page->nav && strcmp (page->nav, s_nav[i][0]) == 0;
        ll_textbuf_printf (&nav, "<a href=\"%s\"%s>%s</a>", s_nav[i][1],
                           current ? " aria-current=\"page\"" : "",
                           s_nav[i][2]);
    }
    //  page->script: one file or several separated by blanks
    ll_textbuf_t script = {0};
    for (const char *p = page->script; p && *p;) {
        size_t len = strcspn (p, " ");
        if (len > 0 && len < 100)
            ll_textbuf_printf (&script,
                               "<script src=\"/static/%.*s\" defer></script>",
                               (int) len, p);
        p += len;
        p += strspn (p, " ");
    }
    const char *layout[] = {"title",      page->title,
                            "user",       req->actor,
                            "csrf",       req->csrf,
                            "main_class", page->wide ? "card wide" : "card",
                            "nav",        ll_textbuf_text (&nav),
                            "script",     ll_textbuf_text (&script),
                            "body",       body,
                            NULL};
    char *html = ll_page_render ("admin-layout.html", layout);
    ll_textbuf_free (&nav);
    ll_textbuf_free (&script);
    free (body);
    return s_send_html (req, status, html, NULL);
}
