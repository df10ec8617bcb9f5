// The AccessRequest validating webhook route.
//
// RESERVED — not implemented yet (a later task): it will stamp
// status.decidedBy from the API server's authenticated user, refuse
// self-approval, and refuse users outside the policy's approvers. Until then
// the route is wired (so the webhook configuration and the chart are final)
// and every request is allowed.
import { allowed, type AdmissionHandler } from './admission.js';

export function accessRequestValidator(): AdmissionHandler {
  return (req) => allowed(req);
}
