from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_one_parcel_on_the_road"),
    ]

    operations = [
        migrations.AlterField(
            model_name="carrierreport",
            name="received_at",
            field=models.DateTimeField(auto_now_add=True, db_index=True),
        ),
    ]
