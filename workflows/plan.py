"""`starter.py plan`: what a handover would move, read on the worker with no side effect.

Runs the same read-only steps as `HandoverWorkflow` (workflows/lookups.py), so the plan shows
exactly what a handover started now would find. Only GET requests: nothing is written.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.pagerduty import OnCallQuery, PagerDutyActivities
    from handover import decisions, messages
    from handover.models import HandoverPlan, HandoverRequest, PlannedTicket, TicketAction, Variant

# The procedure's own modules go through the workflow sandbox (re-imported and checked per run).
from workflows import lookups
from workflows.lookups import LOOKUP


@workflow.defn
class PlanWorkflow:
    @workflow.run
    async def run(self, request: HandoverRequest) -> HandoverPlan:
        outgoing, incoming, channel = await lookups.resolve_admins(request.outgoing, request.incoming)
        acting_as = await lookups.service_identity() if decisions.acts_as_service(request) else outgoing.email
        if request.variant is Variant.MID_SHIFT and request.major_incident:
            await lookups.major_incident(request.major_incident)
        found = await lookups.take_inventory(outgoing)
        sessions = found.pinned.open_sessions
        start = workflow.now().replace(microsecond=0)
        on_call = None
        if decisions.makes_override(request):
            override = (
                f"PagerDuty override: {incoming.name} primary from the start for "
                f"{messages.format_duration(request.overlap)}; {outgoing.name} stays on the schedule"
            )
        else:
            override = "no override: PagerDuty's auto-rotation gives the overlap"
            on_call = await workflow.execute_activity_method(
                PagerDutyActivities.check_on_call,
                OnCallQuery(user_id=incoming.pagerduty_id, start=start, end=start + request.overlap),
                **LOOKUP,
            )
        tickets = [
            PlannedTicket(
                ticket=ticket,
                action=decisions.ticket_action(ticket, sessions),
                sessions_to_end=decisions.sessions_to_end(ticket, sessions),
            )
            for ticket in found.pinned.tickets
        ]
        listed = {**found.listed, "tickets": tickets}
        # Per kind, how many of its items will wait for its inputs: of the tickets, those to link.
        owing = {
            field: sum(x.left_alone is None for x in xs) for field, xs in listed.items() if field != "tickets"
        }
        owing["tickets"] = sum(
            t.action is TicketAction.LINK_ENGINEERING_ISSUE
            and t.ticket.engineering_issue is None
            and t.ticket.left_alone is None
            for t in tickets
        )
        return HandoverPlan(
            request=request,
            outgoing=outgoing,
            incoming=incoming,
            acting_as=acting_as,
            channel=channel,
            override=override,
            on_call=on_call,
            sessions_to_end_first=sorted(s.id for s in sessions)
            if decisions.acts_as_service(request)
            else [],
            **listed,
            waits_for=messages.plan_waits(request, owing),
        )
