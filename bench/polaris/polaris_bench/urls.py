"""No views: this project only runs Polaris's models and background commands."""

urlpatterns: list = []
