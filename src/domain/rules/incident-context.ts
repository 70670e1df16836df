// The evaluation context of a stored incident: what conditions and templates see as `incident`,
// `environment`, `alert(s)` and `event`. Pure; the planner (activities/plan.ts) and the rule tester use it.
import { buildContext, type EvaluationContext } from './evaluate.js';

/** The incident facts rule evaluation reads (the columns of a stored incident row). */
export interface IncidentFacts {
  id: string;
  number: number | null;
  title: string | null;
  description: string | null;
  status: string;
  urgency: string | null;
  priority: string | null;
  service_id: string | null;
  service_name: string | null;
  escalation_policy_id: string | null;
  escalation_policy_name: string | null;
  assignees: { id: string; summary?: string }[];
  html_url: string | null;
  incident_key: string | null;
  environment: Record<string, unknown>;
  alerts: unknown[] | null;
}

export function incidentContext(incident: IncidentFacts, event: Record<string, unknown>, eventType: string): EvaluationContext {
  const environment = { ...incident.environment };
  delete environment.sources;
  return buildContext({
    incident: {
      id: incident.id,
      number: incident.number,
      title: incident.title,
      description: incident.description,
      status: incident.status,
      urgency: incident.urgency,
      priority: incident.priority ? { summary: incident.priority } : null,
      service: { id: incident.service_id, name: incident.service_name, summary: incident.service_name },
      escalationPolicy: { id: incident.escalation_policy_id, name: incident.escalation_policy_name },
      assignees: incident.assignees,
      htmlUrl: incident.html_url,
      html_url: incident.html_url,
      incidentKey: incident.incident_key,
    },
    environment,
    alerts: incident.alerts ?? [],
    event: { ...event, type: eventType },
  });
}
