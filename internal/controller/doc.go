// Package controller holds the Customer reconciler: it keeps each Tiquo customer record in
// step with the Customer object that declares it.
//
// One reconcile reads the Customer, resolves its API key, reads the live record, computes the
// smallest patch with package diff, sends it when it is not empty, and writes the outcome as
// kstatus conditions with a single status patch, which a pool of status writers sends while
// the worker goes on with the next Customer. The controller talks to Tiquo only through the
// CustomerAPI interface.
package controller
