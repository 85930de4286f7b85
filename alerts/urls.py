"""Console pages of the alerts app."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_page, name="page"),
    path("mail/", views.sink_mail, name="mail"),
]
