/*  ThreadSanitizer builds only (`make test-tsan`): tells TSan about the one
    synchronisation of czmq's actors it cannot see.

    zactor_destroy sends $TERM and waits for the actor's last signal, which
    czmq sends after the actor function has returned: whatever the actor
    did happens before zactor_destroy returns, and the caller may then free
    what it lent the actor (its config, its runtime). That signal travels
    through libzmq's lock-free pipe, which is uninstrumented, so TSan saw
    no order and reported the caller's free as racing with the actor's
    last reads.

    Linked into every program of the TSan build with
    -Wl,--wrap=zactor_new,--wrap=zactor_destroy (tests/CMakeLists.txt): the
    actor function runs inside s_task, which releases a token when it
    returns, and __wrap_zactor_destroy acquires it after czmq's destroy has
    returned. This adds exactly the order czmq guarantees and nothing more:
    a race between an actor and anything else while it runs is still
    reported. No product code changes. */
#include <czmq.h>
#include <pthread.h>

void __tsan_acquire (void *addr);
void __tsan_release (void *addr);

zactor_t *__real_zactor_new (zactor_fn task, void *args);
void __real_zactor_destroy (zactor_t **self_p);
zactor_t *__wrap_zactor_new (zactor_fn task, void *args);
void __wrap_zactor_destroy (zactor_t **self_p);

//  One per actor: what s_task runs; its address is the token
typedef struct s_token_t {
    zactor_fn *task;         //  the actor function
    void *args;              //  and its argument
    zactor_t *actor;         //  the actor, set once zactor_new returned
    struct s_token_t *next;  //  list of live actors
} s_token_t;

//  Live actors: the only mutable static state, test builds only
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_token_t *s_live;

static void
s_task (zsock_t *pipe, void *args)
{
    s_token_t *token = (s_token_t *) args;
    token->task (pipe, token->args);
    __tsan_release (token);
}

zactor_t *
__wrap_zactor_new (zactor_fn task, void *args)
{
    s_token_t *token = (s_token_t *) calloc (1, sizeof *token);
    if (!token)
        return NULL;
    token->task = task;
    token->args = args;
    zactor_t *actor = __real_zactor_new (s_task, token);
    if (!actor) {
        free (token);
        return NULL;
    }
    pthread_mutex_lock (&s_lock);
    token->actor = actor;
    token->next = s_live;
    s_live = token;
    pthread_mutex_unlock (&s_lock);
    return actor;
}

void
__wrap_zactor_destroy (zactor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_t *actor = *self_p;
    __real_zactor_destroy (self_p);
    pthread_mutex_lock (&s_lock);
    s_token_t **link = &s_live;
    while (*link && (*link)->actor != actor)
        link = &(*link)->next;
    s_token_t *token = *link;
    if (token)
        *link = token->next;
    pthread_mutex_unlock (&s_lock);
    if (token) {
        __tsan_acquire (token);
        free (token);
    }
}
