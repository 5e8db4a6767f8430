"""Write actions: one safety policy, one audit journal, and the actions that go through both."""
