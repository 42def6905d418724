/*
 * search_query — the search query language (docs/search.md) parsed into a
 * tree that search.c turns into FTS5 MATCH expressions and SQL filters.
 *
 * Grammar (Obsidian's search, the useful core):
 *   query   := or
 *   or      := and ("OR" and)*
 *   and     := unary+                      juxtaposition means AND
 *   unary   := "-" unary | primary
 *   primary := "(" or ")" | PHRASE | WORD | "[" prop "]"
 *            | OP ":" operand              OP: path file tag line section
 *                                              task task-todo task-done
 *   operand := "(" or ")" | PHRASE | WORD   (path/file/tag: PHRASE or WORD)
 *   prop    := name [":" (PHRASE | WORD)]
 * A WORD is a run of characters other than white space, parentheses and
 * '"'; it is cut into words as the index cuts text, so "e-mail" is the
 * phrase "e mail". "OR" must be upper-case. An unknown OP is an ordinary
 * word ("note:" searches for "note").
 *
 * Invariants: every node's strings are folded (qp_text_fold); a TERM has at
 * least one word (terms that cut into none, such as "--", are dropped); an
 * AND or OR has at least two kids.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quipu/text.h"
#include "search_int.h"

typedef struct parser {
    const char *s;
    size_t pos, len;
    bool prefix;       /* the last plain word may be a prefix */
    qp__sq_node *last; /* the TERM made from the last plain word so far */
    size_t last_end;   /* where that word ended */
    bool last_star;    /* it was written with a trailing '*' */
    size_t nleaves;
    bool verify;
    qp_error *err;
    qp_rc rc;
} parser;

static qp__sq_node *node_new(parser *p, qp__sq_kind kind)
{
    qp__sq_node *n = calloc(1, sizeof *n);
    if (!n) {
        p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->leaf = -1;
    return n;
}

static void node_free(qp__sq_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->nwords; i++)
        free(n->words[i]);
    free(n->words);
    free(n->text);
    free(n->value);
    free(n);
}

static bool add_kid(parser *p, qp__sq_node *n, qp__sq_node *kid)
{
    qp__sq_node **k = realloc(n->kids, (n->nkids + 1) * sizeof *k);
    if (!k) {
        p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
        return false;
    }
    n->kids = k;
    n->kids[n->nkids++] = kid;
    return true;
}

__attribute__((format(printf, 3, 4))) static void syntax(parser *p, size_t at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->rc = qp_error_set(p->err, QP_EQUERY, "column %zu: %s", at + 1, msg);
    if (p->err)
        p->err->col = (int)at + 1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void skip_space(parser *p)
{
    while (p->pos < p->len && is_space(p->s[p->pos]))
        p->pos++;
}

static bool word_char(char c)
{
    return c != '\0' && !is_space(c) && c != '(' && c != ')' && c != '"';
}

/* The end of the WORD at p->pos. */
static size_t word_end(const parser *p, size_t at)
{
    while (at < p->len && word_char(p->s[at]))
        at++;
    return at;
}

static char *fold_dup(parser *p, const char *s, size_t n)
{
    char *f = qp_text_fold(s, n, NULL);
    if (!f)
        p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
    return f;
}

/* A TERM of the words in s[0..n), or NULL with p->rc QP_OK when there are
 * none. */
static qp__sq_node *term_of(parser *p, const char *s, size_t n)
{
    qp__search_words w;
    if (qp__search_words_split(&w, s, n, p->err) != QP_OK) {
        p->rc = QP_ENOMEM;
        return NULL;
    }
    qp__sq_node *t = NULL;
    if (w.n == 0)
        goto cleanup;
    if (!(t = node_new(p, QP__SQ_TERM)))
        goto cleanup;
    t->words = calloc(w.n, sizeof *t->words);
    if (!t->words)
        goto oom;
    for (size_t i = 0; i < w.n; i++) {
        t->words[i] = strndup(w.folded + w.v[i].off, w.v[i].len);
        if (!t->words[i])
            goto oom;
        t->nwords++;
    }
    goto cleanup;
oom:
    p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
    node_free(t);
    t = NULL;
cleanup:
    qp__search_words_free(&w);
    return t;
}

/* A quoted PHRASE at p->pos (on the '"'): the text between the quotes in
 * *start / *n. A backslash keeps a following '"' or '\'. */
static bool quoted(parser *p, char **out, size_t *n)
{
    size_t open = p->pos++;
    char *buf = malloc(p->len - p->pos + 1);
    size_t k = 0;
    *out = NULL;
    if (!buf) {
        p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
        return false;
    }
    while (p->pos < p->len && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\' && p->pos + 1 < p->len &&
            (p->s[p->pos + 1] == '"' || p->s[p->pos + 1] == '\\'))
            p->pos++;
        buf[k++] = p->s[p->pos++];
    }
    if (p->pos >= p->len) {
        free(buf);
        syntax(p, open, "unterminated \"");
        return false;
    }
    p->pos++; /* the closing quote */
    buf[k] = '\0';
    *out = buf;
    *n = k;
    return true;
}

static qp__sq_node *parse_or(parser *p, int depth);

/* A leaf's value: PHRASE or WORD, folded. */
static char *value_of(parser *p, const char *op)
{
    if (p->pos < p->len && p->s[p->pos] == '"') {
        char *raw = NULL;
        size_t n = 0;
        if (!quoted(p, &raw, &n))
            return NULL;
        char *f = fold_dup(p, raw, n);
        free(raw);
        return f;
    }
    size_t e = word_end(p, p->pos);
    if (e == p->pos) {
        syntax(p, p->pos, "%s: needs a value", op);
        return NULL;
    }
    char *f = fold_dup(p, p->s + p->pos, e - p->pos);
    p->pos = e;
    return f;
}

/* The operand of line:, section:, task...: a group, a phrase or a word; the
 * result is made of text terms only. *out may be NULL (no words). */
static bool text_operand(parser *p, const char *op, size_t at, int depth, qp__sq_node **out)
{
    *out = NULL;
    if (p->pos < p->len && p->s[p->pos] == '(') {
        size_t open = p->pos++;
        qp__sq_node *n = parse_or(p, depth + 1);
        if (p->rc != QP_OK)
            return false;
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != ')') {
            node_free(n);
            syntax(p, open, "( without )");
            return false;
        }
        p->pos++;
        *out = n;
    } else if (p->pos < p->len && p->s[p->pos] == '"') {
        char *raw = NULL;
        size_t n = 0;
        if (!quoted(p, &raw, &n))
            return false;
        *out = term_of(p, raw, n);
        free(raw);
    } else {
        size_t e = word_end(p, p->pos);
        *out = term_of(p, p->s + p->pos, e - p->pos);
        p->pos = e;
    }
    if (p->rc != QP_OK)
        return false;
    /* Only words, phrases, OR, - and groups make sense inside. */
    qp__sq_node *stack[64];
    size_t ns = 0;
    if (*out)
        stack[ns++] = *out;
    while (ns > 0) {
        qp__sq_node *n = stack[--ns];
        if (n->kind != QP__SQ_AND && n->kind != QP__SQ_OR && n->kind != QP__SQ_NOT &&
            n->kind != QP__SQ_TERM) {
            node_free(*out);
            *out = NULL;
            syntax(p, at, "%s takes words, \"phrases\", OR, - and parentheses only", op);
            return false;
        }
        for (size_t i = 0; i < n->nkids && ns < 64; i++)
            stack[ns++] = n->kids[i];
    }
    return true;
}

static const struct {
    const char *name;
    qp__sq_kind kind;
    qp__sq_task task;
} ops[] = {
    {"path", QP__SQ_PATH, QP__SQ_TASK_ANY},       {"file", QP__SQ_FILE, QP__SQ_TASK_ANY},
    {"tag", QP__SQ_TAG, QP__SQ_TASK_ANY},         {"line", QP__SQ_LINE, QP__SQ_TASK_ANY},
    {"section", QP__SQ_SECTION, QP__SQ_TASK_ANY}, {"task", QP__SQ_TASK, QP__SQ_TASK_ANY},
    {"task-todo", QP__SQ_TASK, QP__SQ_TASK_TODO}, {"task-done", QP__SQ_TASK, QP__SQ_TASK_DONE},
};

static qp__sq_node *parse_operator(parser *p, size_t k, int depth)
{
    size_t at = p->pos;
    p->pos += strlen(ops[k].name) + 1; /* name and ':' */
    qp__sq_node *n = node_new(p, ops[k].kind);
    if (!n)
        return NULL;
    n->task = ops[k].task;
    switch (ops[k].kind) {
    case QP__SQ_PATH:
    case QP__SQ_FILE:
    case QP__SQ_TAG:
        n->text = value_of(p, ops[k].name);
        if (!n->text)
            goto fail;
        if (ops[k].kind == QP__SQ_TAG && n->text[0] != '#') {
            size_t l = strlen(n->text);
            char *t = malloc(l + 2);
            if (!t) {
                p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
                goto fail;
            }
            t[0] = '#';
            memcpy(t + 1, n->text, l + 1);
            free(n->text);
            n->text = t;
        }
        if (ops[k].kind == QP__SQ_TAG && n->text[1] == '\0') {
            syntax(p, at, "tag: needs a tag name");
            goto fail;
        }
        n->leaf = (int)p->nleaves++;
        return n;
    case QP__SQ_TASK: {
        n->leaf = (int)p->nleaves++;
        if (p->pos >= p->len || is_space(p->s[p->pos]) || p->s[p->pos] == ')')
            return n; /* any task of that status */
        qp__sq_node *kid = NULL;
        if (!text_operand(p, ops[k].name, at, depth, &kid))
            goto fail;
        if (kid && !add_kid(p, n, kid)) {
            node_free(kid);
            goto fail;
        }
        return n;
    }
    default: { /* line:, section: */
        qp__sq_node *kid = NULL;
        if (!text_operand(p, ops[k].name, at, depth, &kid))
            goto fail;
        if (!kid) {
            syntax(p, at, "%s: needs words", ops[k].name);
            goto fail;
        }
        if (!add_kid(p, n, kid)) {
            node_free(kid);
            goto fail;
        }
        p->verify = true;
        return n;
    }
    }
fail:
    node_free(n);
    return NULL;
}

/* [name] or [name:value]. */
static qp__sq_node *parse_prop(parser *p)
{
    size_t open = p->pos++;
    size_t close = open + 1;
    while (close < p->len && p->s[close] != ']' && p->s[close] != ':')
        close++;
    if (close >= p->len) {
        syntax(p, open, "[ without ]");
        return NULL;
    }
    size_t ks = p->pos, ke = close;
    while (ks < ke && is_space(p->s[ks]))
        ks++;
    while (ke > ks && is_space(p->s[ke - 1]))
        ke--;
    if (ke == ks) {
        syntax(p, open, "[] needs a property name");
        return NULL;
    }
    qp__sq_node *n = node_new(p, QP__SQ_PROP);
    if (!n)
        return NULL;
    if (!(n->text = fold_dup(p, p->s + ks, ke - ks)))
        goto fail;
    p->pos = close;
    if (p->s[p->pos] == ':') {
        p->pos++;
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == '"') {
            char *raw = NULL;
            size_t rn = 0;
            if (!quoted(p, &raw, &rn))
                goto fail;
            n->value = fold_dup(p, raw, rn);
            free(raw);
            if (!n->value)
                goto fail;
        } else {
            size_t vs = p->pos;
            while (p->pos < p->len && p->s[p->pos] != ']')
                p->pos++;
            size_t ve = p->pos;
            while (ve > vs && is_space(p->s[ve - 1]))
                ve--;
            if (!(n->value = fold_dup(p, p->s + vs, ve - vs)))
                goto fail;
        }
        skip_space(p);
    }
    if (p->pos >= p->len || p->s[p->pos] != ']') {
        syntax(p, open, "[ without ]");
        goto fail;
    }
    p->pos++;
    n->leaf = (int)p->nleaves++;
    return n;
fail:
    node_free(n);
    return NULL;
}

static qp__sq_node *parse_primary(parser *p, int depth)
{
    char c = p->s[p->pos];
    if (c == '(') {
        size_t open = p->pos++;
        qp__sq_node *n = parse_or(p, depth + 1);
        if (p->rc != QP_OK)
            return NULL;
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != ')') {
            node_free(n);
            syntax(p, open, "( without )");
            return NULL;
        }
        p->pos++;
        return n;
    }
    if (c == '"') {
        char *raw = NULL;
        size_t n = 0;
        if (!quoted(p, &raw, &n))
            return NULL;
        qp__sq_node *t = term_of(p, raw, n);
        free(raw);
        return t;
    }
    if (c == '[')
        return parse_prop(p);
    size_t e = word_end(p, p->pos);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t l = strlen(ops[k].name);
        if (p->pos + l < p->len && strncmp(p->s + p->pos, ops[k].name, l) == 0 &&
            p->s[p->pos + l] == ':')
            return parse_operator(p, k, depth);
    }
    bool star = e > p->pos + 1 && p->s[e - 1] == '*';
    qp__sq_node *t = term_of(p, p->s + p->pos, e - p->pos - (star ? 1 : 0));
    p->pos = e;
    if (t) {
        if (star)
            t->prefix = true;
        p->last = t;
        p->last_end = e;
        p->last_star = star;
    }
    return t;
}

/* A run of '-' negates once per dash: an even run cancels out. Counted in
 * a loop, not by recursion: a query of 100,000 dashes is a few lines of
 * text, and one stack frame (and one nested NOT, then nested SQL) per dash
 * overflowed the stack of the thread that parses it. */
static qp__sq_node *parse_unary(parser *p, int depth)
{
    size_t dashes = 0;
    while (p->s[p->pos] == '-' && p->pos + 1 < p->len && !is_space(p->s[p->pos + 1]) &&
           p->s[p->pos + 1] != ')') {
        p->pos++;
        dashes++;
    }
    if (dashes % 2 == 1) {
        qp__sq_node *kid = parse_primary(p, depth);
        if (!kid)
            return NULL;
        qp__sq_node *n = node_new(p, QP__SQ_NOT);
        if (!n || !add_kid(p, n, kid)) {
            node_free(n);
            node_free(kid);
            return NULL;
        }
        return n;
    }
    return parse_primary(p, depth);
}

static bool at_or(const parser *p)
{
    return p->pos + 2 <= p->len && strncmp(p->s + p->pos, "OR", 2) == 0 &&
           (p->pos + 2 == p->len || is_space(p->s[p->pos + 2]) || p->s[p->pos + 2] == '(' ||
            p->s[p->pos + 2] == '"');
}

/* Folds a list of kids into one node: NULL for none, the kid for one. */
static qp__sq_node *combine(parser *p, qp__sq_kind kind, qp__sq_node **kids, size_t n)
{
    if (n == 0)
        return NULL;
    if (n == 1)
        return kids[0];
    qp__sq_node *c = node_new(p, kind);
    if (!c)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        qp__sq_node *k = kids[i];
        if (k->kind == kind) { /* (a b) c is a b c */
            for (size_t j = 0; j < k->nkids; j++)
                if (!add_kid(p, c, k->kids[j]))
                    goto fail_from;
            k->nkids = 0;
            node_free(k);
        } else if (!add_kid(p, c, k)) {
            goto fail_from;
        }
        kids[i] = NULL;
        continue;
fail_from:
        for (; i < n; i++)
            node_free(kids[i]);
        node_free(c);
        return NULL;
    }
    return c;
fail:
    for (size_t i = 0; i < n; i++)
        node_free(kids[i]);
    return NULL;
}

typedef struct nodelist {
    qp__sq_node **v;
    size_t n, cap;
} nodelist;

static bool push(parser *p, nodelist *l, qp__sq_node *n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        qp__sq_node **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            p->rc = qp_error_set(p->err, QP_ENOMEM, "out of memory");
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return true;
}

static void list_free(nodelist *l)
{
    for (size_t i = 0; i < l->n; i++)
        node_free(l->v[i]);
    free(l->v);
}

static qp__sq_node *parse_and(parser *p, int depth)
{
    nodelist l = {0};
    for (;;) {
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] == ')' || at_or(p))
            break;
        qp__sq_node *n = parse_unary(p, depth);
        if (p->rc != QP_OK) {
            list_free(&l);
            return NULL;
        }
        if (n && !push(p, &l, n)) {
            node_free(n);
            list_free(&l);
            return NULL;
        }
    }
    qp__sq_node *r = combine(p, QP__SQ_AND, l.v, l.n);
    free(l.v);
    return r;
}

static qp__sq_node *parse_or(parser *p, int depth)
{
    if (depth > 32) {
        syntax(p, p->pos, "parentheses nested too deep");
        return NULL;
    }
    nodelist l = {0};
    for (;;) {
        qp__sq_node *n = parse_and(p, depth);
        if (p->rc != QP_OK) {
            list_free(&l);
            return NULL;
        }
        if (n && !push(p, &l, n)) {
            node_free(n);
            list_free(&l);
            return NULL;
        }
        skip_space(p);
        if (!at_or(p))
            break;
        p->pos += 2;
    }
    qp__sq_node *r = combine(p, QP__SQ_OR, l.v, l.n);
    free(l.v);
    return r;
}

qp_rc qp__sq_parse(qp__sq_query *out, const char *q, bool prefix, qp_error *err)
{
    parser p = {.s = q, .len = strlen(q), .prefix = prefix, .err = err};
    memset(out, 0, sizeof *out);
    qp__sq_node *root = parse_or(&p, 0);
    if (p.rc == QP_OK) {
        skip_space(&p);
        if (p.pos < p.len) /* only a ')' stops the top level early */
            syntax(&p, p.pos, ") without (");
    }
    if (p.rc != QP_OK) {
        node_free(root);
        return p.rc;
    }
    /* Search as you type: the word being typed is a prefix. */
    if (prefix && p.last && !p.last_star && p.last_end == p.len)
        p.last->prefix = true;
    out->root = root;
    out->nleaves = p.nleaves;
    out->verify = p.verify;
    return QP_OK;
}

void qp__sq_free(qp__sq_query *q)
{
    if (!q)
        return;
    node_free(q->root);
    q->root = NULL;
}

/* ---- dump ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->oom)
        return;
    if (b->n + l + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + l + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, l + 1);
    b->n += l;
}

static void put_quoted(sbuf *b, const char *s)
{
    put(b, "\"");
    put(b, s);
    put(b, "\"");
}

static void dump(sbuf *b, const qp__sq_node *n)
{
    static const char *const task_names[] = {"task", "task-todo", "task-done"};
    switch (n->kind) {
    case QP__SQ_AND:
    case QP__SQ_OR:
        put(b, n->kind == QP__SQ_AND ? "(and" : "(or");
        for (size_t i = 0; i < n->nkids; i++) {
            put(b, " ");
            dump(b, n->kids[i]);
        }
        put(b, ")");
        return;
    case QP__SQ_NOT:
    case QP__SQ_LINE:
    case QP__SQ_SECTION:
        put(b, n->kind == QP__SQ_NOT ? "(not " : n->kind == QP__SQ_LINE ? "(line " : "(section ");
        dump(b, n->kids[0]);
        put(b, ")");
        return;
    case QP__SQ_TERM:
        put(b, "\"");
        for (size_t i = 0; i < n->nwords; i++) {
            if (i)
                put(b, " ");
            put(b, n->words[i]);
        }
        put(b, n->prefix ? "\"*" : "\"");
        return;
    case QP__SQ_PATH:
    case QP__SQ_FILE:
    case QP__SQ_TAG:
        put(b, n->kind == QP__SQ_PATH ? "(path " : n->kind == QP__SQ_FILE ? "(file " : "(tag ");
        put_quoted(b, n->text);
        put(b, ")");
        return;
    case QP__SQ_PROP:
        put(b, "(prop ");
        put_quoted(b, n->text);
        if (n->value) {
            put(b, " ");
            put_quoted(b, n->value);
        }
        put(b, ")");
        return;
    case QP__SQ_TASK:
        put(b, "(");
        put(b, task_names[n->task]);
        if (n->nkids) {
            put(b, " ");
            dump(b, n->kids[0]);
        }
        put(b, ")");
        return;
    }
}

char *qp__sq_dump(const qp__sq_query *q)
{
    sbuf b = {0};
    put(&b, "");
    if (q->root)
        dump(&b, q->root);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
