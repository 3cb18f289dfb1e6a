/*  The desktop back to the image's state before the next student (issue 15
    section 3), when the allocator answers /vm_startup with a reset:

    1. End the session's processes: those of LABLINK_SESSION_USER when set
       (the desktop user in the container, e.g. client: the CRD daemon and
       the desktop it started), else those in the agent's own session (the
       local provider starts the agent with setsid, so start-host and what
       it left running are in it; an agent that does not lead its session
       refuses, rather than end its neighbours). Never the agent, its
       ancestors, its own children (probes, git) or its process group (the
       start script's other loops in a container). SIGTERM, then SIGKILL
       after AGENT_RESET_GRACE_MS.
    2. Empty $HOME, except the agent's state folder and the log files it
       ships when they live there. Nothing is followed out of $HOME: links
       are removed, not followed; another file system mounted inside it
       fails the reset (the VM then stays out of the pool).
    3. Copy the skeleton (LABLINK_SKELETON_DIR, default /etc/skel) into it
       with `cp -a`.

    A failure is reported to the allocator, which keeps the VM out of the
    pool until an admin replaces it. */
#ifndef LL_AGENT_RESET_H
#define LL_AGENT_RESET_H

#include <stddef.h>

#include "agent/settings.h"
#include "agent/stop.h"

#define AGENT_RESET_GRACE_MS 2000  //  SIGTERM to SIGKILL

//  Steps 1 to 3. 0, or -1 with the reason in error.
int agent_reset_desktop (const agent_settings_t *settings,
                         agent_stop_t *stop,
                         char *error,
                         size_t errsize);

//  Step 1 alone: how many processes were ended, -2 when the agent does not
//  lead its session (and no LABLINK_SESSION_USER is set), or -1.
int agent_reset_processes (const agent_settings_t *settings);

#endif
