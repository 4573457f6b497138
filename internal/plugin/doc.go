// Package plugin holds the work of the kubectl tiquo plugin (cmd/kubectl-tiquo), apart from
// its command line:
//
//   - Import turns existing Tiquo records into Customer manifests that, applied, make the
//     operator send no PATCH;
//   - Preview computes, with the operator's own diff.Compute, the PATCH the operator would
//     send for a Customer manifest, without a cluster; Plan also says what it would do for a
//     Customer without customerId (adopt by email, refuse, or create with
//     diff.Create's body) and for one being deleted (its deletionPolicy);
//   - ReadManifests finds the Customer manifests in files and directories;
//   - RequestReconcile sets the reconcile.crm.tiquo.co/requestedAt annotation.
//
// Nothing here prints an API key; errors of the Tiquo client never carry one.
package plugin
